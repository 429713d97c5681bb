"""Data-parallel training over several processes with ``torch.distributed`` (gloo on CPUs, NCCL on GPUs).

Launch any training command under ``torchrun --nproc_per_node N``. Every process holds the whole model and its
graphs (propagation is replicated); each epoch's batches, the same in every process, are split between the
processes (process ``r`` of ``N`` takes rows ``r, r + N, ...`` of each batch) and the gradients are averaged
before every optimiser step, so all processes keep identical weights. Process 0 evaluates on validation, decides
when to stop and is the only one that writes the run directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launch_command(processes: int) -> list[str]:
    """The ``torchrun`` prefix that runs a command (e.g. ``alignrec train ...``) as ``processes`` processes on this
    machine; ``--standalone`` lets torchrun pick a free port, so a port an earlier launch still holds cannot fail it."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    return [torchrun, "--standalone", "--nproc_per_node", str(processes), "--no-python"]


def current() -> Group | None:
    """The process group when this process trains with others, else None."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return Group(dist.get_rank(), dist.get_world_size())
    return None


def init_from_env(device: torch.device) -> Group | None:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1); a no-op in a
    single process or when the group exists already."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current()


def leave() -> None:
    """Wait for every process, then take the process group down. A process that exits with the group still up
    leaves gloo's threads running at interpreter exit, and C++ aborts it ("terminate called without an active
    exception"): the non-main processes finish first, so this is what torchrun reported now and then."""
    dist.barrier()
    dist.destroy_process_group()


def shard(batches: list[tuple[torch.Tensor, ...]], group: Group) -> list[tuple[torch.Tensor, ...]]:
    """This process's rows of every batch; a batch with fewer rows than processes is skipped by all of them."""
    return [tuple(t[group.rank::group.world] for t in batch) for batch in batches if len(batch[0]) >= group.world]


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Process 0's parameters and buffers to every process."""
    for tensor in module.state_dict().values():
        if isinstance(tensor, torch.Tensor) and not tensor.is_sparse:
            dist.broadcast(tensor, 0)


def average_gradients(parameters: Iterable[torch.nn.Parameter], group: Group) -> None:
    """Replace each gradient by its mean over the processes (one all-reduce of a flat buffer)."""
    params = [p for p in parameters if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= group.world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def broadcast_score(score: float, device: torch.device) -> float:
    """Process 0's selection score, in every process."""
    value = torch.tensor([score], dtype=torch.float64, device=device)
    dist.broadcast(value, 0)
    return float(value.item())
