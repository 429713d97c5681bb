"""DGVAE: a disentangled graph VAE of user rows whose interests are aligned with the words of their items.

"Disentangled Graph Variational Auto-Encoder for Multimodal Recommendation with Interpretability" (2024; the
authors' code is github.com/enoche/DGVAE). Implemented from the paper, with details taken from reading that code:

* two disentangled VAEs in the manner of MacridVAE (Ma, Zhou, Cui, Yang, Zhu, "Learning Disentangled
  Representations for Recommendation", NeurIPS 2019), one over a user's training items, one over the words of
  those items (TF-IDF); each has ``n_prototypes`` interests: items (words) are softly assigned to prototypes
  (Gumbel-softmax while training), and each interest's slice of the row is encoded to a normalised Gaussian code;
* the item encoder first smooths the row over a frozen content kNN item graph (two hops, averaged with the row);
* the two sets of interest codes attend to each other, are added, and decode both the items and the words;
* loss: both reconstructions (multinomial log-likelihood) with annealed KL terms, plus ``lambda_text`` for the
  words and ``lambda_mi`` x a mutual-information (Jensen-Shannon) term that pairs each interest's two views.

It trains on batches of users (:meth:`training_batches`), not on BPR triples. Item text is required: where a
dataset has only images, the authors first turn images into text (captions); give the items text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.data.words import item_word_matrix, tf_idf
from alignrec.errors import DataError
from alignrec.models.base import Recommender, register
from alignrec.models.content import modality_inputs
from alignrec.models.graph import SparseOperator, interaction_matrix, modality_knn_graph


@dataclass
class DGVAEParams:
    """Defaults are the authors' (their main.py): 64-d codes, 4 prototypes, τ 0.1, dropout 0.5, prior std 0.075,
    KL caps 0.2 annealed over 20000 steps, λ_text 0.2, λ_mi 0.2, text weight 0.96 in the item graph, 512 users per
    batch. The vocabulary (their preprocessing) is here the 2000 words found in the most items."""

    embedding_dim: int = 64
    n_prototypes: int = 4
    tau: float = 0.1
    dropout: float = 0.5
    std: float = 0.075
    anneal_cap: float = 0.2
    anneal_steps: int = 20000
    lambda_text: float = 0.2
    lambda_mi: float = 0.2
    knn_k: int = 10
    text_weight: float = 0.96
    max_words: int = 2000
    users_per_batch: int = 512


class InterestVAE(nn.Module):
    """One disentangled VAE over rows of ``n_columns`` (items or words), with an optional smoothing graph."""

    def __init__(self, n_columns: int, p: DGVAEParams, graph: SparseOperator | None = None) -> None:
        super().__init__()
        self.p, self.graph = p, graph
        self.encoder = nn.Linear(n_columns, 2 * p.embedding_dim)
        nn.init.xavier_normal_(self.encoder.weight)
        nn.init.normal_(self.encoder.bias, std=0.01)
        self.columns = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_columns, p.embedding_dim)))
        self.prototypes = nn.Parameter(nn.init.xavier_normal_(torch.empty(p.n_prototypes, p.embedding_dim)))
        self.dropout = nn.Dropout(p.dropout)

    def assignments(self) -> torch.Tensor:
        """``[n_columns, K]`` soft assignment of each column to an interest."""
        logits = nn.functional.normalize(self.columns, dim=1) @ nn.functional.normalize(self.prototypes, dim=1).T
        logits = logits / self.p.tau
        return nn.functional.gumbel_softmax(logits, tau=1, hard=False) if self.training else logits.softmax(1)

    def encode(self, rows: torch.Tensor, cates: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per interest: the normalised code ``z`` and the log-variance, each ``[B, d]``."""
        d, codes, logvars = self.p.embedding_dim, [], []
        for k in range(self.p.n_prototypes):
            x = nn.functional.normalize(rows * cates[:, k], dim=1)
            if self.graph is not None:
                smooth = self.graph(self.graph(x.T)).T  # two hops over the item graph, as the authors do
                x = (smooth + x) / 2
            h = self.encoder(self.dropout(x))
            mu, logvar = nn.functional.normalize(h[:, :d], dim=1), -h[:, d:]
            z = mu + torch.randn_like(mu) * self.p.std * torch.exp(0.5 * logvar) if self.training else mu
            codes.append(nn.functional.normalize(z, dim=1))
            logvars.append(logvar)
        return codes, logvars

    def decode(self, codes: list[torch.Tensor], cates: torch.Tensor) -> torch.Tensor:
        """Log of the interest-mixed column probabilities (unnormalised), ``[B, n_columns]``."""
        columns = nn.functional.normalize(self.columns, dim=1)
        probs = sum(torch.exp(z @ columns.T / self.p.tau) * cates[:, k] for k, z in enumerate(codes))
        return torch.log(probs + 1e-12)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """DGVAE's cross-interest attention over ``[B, K, d]`` codes: tanh similarity times a centred L1 closeness."""
    closeness = -(q.unsqueeze(2) - k.unsqueeze(1)).abs().sum(-1)
    weights = torch.tanh(q @ k.transpose(1, 2)) * torch.sigmoid(closeness - closeness.mean(-1, keepdim=True))
    return weights @ v


def mutual_information_term(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon MI estimate between the interests' two views ``[B, K, d]``: interest k of ``a`` with
    interest k of ``b`` is the positive pair, the other interests of ``b`` the negatives (lower is better)."""
    scores = a @ b.transpose(1, 2)  # [B, K, K]
    n = scores.shape[1]
    positive = -nn.functional.softplus(-torch.diagonal(scores, dim1=1, dim2=2))
    off = ~torch.eye(n, dtype=torch.bool, device=scores.device)
    negative = nn.functional.softplus(scores[:, off].view(-1, n, n - 1)).mean(-1)
    return (negative - positive).mean()


def kl_term(logvars: list[torch.Tensor]) -> torch.Tensor:
    return sum(-0.5 * torch.mean(torch.sum(1 + lv - lv.exp(), dim=1)) for lv in logvars)


def multinomial_nll(rows: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return -(nn.functional.log_softmax(logits, 1) * rows).sum(1).mean()


@register
class DGVAE(Recommender):
    """Disentangled item and word VAEs with cross-attention and MI alignment (DGVAE, 2024)."""

    name = "dgvae"
    Params = DGVAEParams
    search_space = {"params.lambda_text": [0.1, 0.2, 0.5, 1.0], "params.lambda_mi": [0.1, 0.2, 0.5],
                    "params.n_prototypes": [2, 4, 8]}

    def __init__(self, dataset: Dataset, params: DGVAEParams) -> None:
        super().__init__(dataset, params)
        texts = dataset.item_text or []
        if not any(t and t.strip() for t in texts):
            mods = sorted(dataset.features)
            raise DataError(f"dgvae needs item text (it models the words of a user's items), and dataset "
                            f"{dataset.name!r} has none (features: {mods}); the authors turn images into text "
                            "(captions) first: give the items text (items.tsv, a RecBole .item text field)")
        words, _ = item_word_matrix(texts, params.max_words)
        self.item_rows = interaction_matrix(dataset.train, self.n_users, self.n_items)  # users' rows, made dense
        self.word_rows = tf_idf(sp.csr_matrix(self.item_rows @ words))  # per batch only
        features = modality_inputs(dataset, None) if dataset.features else {}
        graph = (SparseOperator(modality_knn_graph(features, params.knn_k, 1.0 - params.text_weight), symmetric=True)
                 if features else None)
        self.items = InterestVAE(self.n_items, params, graph)
        self.words = InterestVAE(self.word_rows.shape[1], params)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.users_with_rows = torch.from_numpy(np.unique(dataset.train[:, 0]))

    def training_batches(self, rng: np.random.Generator, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
        order = torch.from_numpy(rng.permutation(self.users_with_rows.numpy())).to(self.steps.device)
        step = self.params.users_per_batch
        return [(order[s:s + step],) for s in range(0, len(order), step)]

    def forward_users(self, users: torch.Tensor) -> tuple[torch.Tensor, ...]:
        index, device = users.cpu().numpy(), self.steps.device
        rows = torch.from_numpy(self.item_rows[index].toarray().astype(np.float32)).to(device)
        text = torch.from_numpy(self.word_rows[index].toarray().astype(np.float32)).to(device)
        item_cates, word_cates = self.items.assignments(), self.words.assignments()
        item_codes, item_logvars = self.items.encode(rows, item_cates)
        word_codes, word_logvars = self.words.encode(text, word_cates)
        a, b = torch.stack(item_codes, 1), torch.stack(word_codes, 1)
        words_given_items, items_given_words = attend(a, b, b), attend(b, a, a)
        mixed = list((items_given_words + words_given_items).unbind(1))
        item_logits, word_logits = self.items.decode(mixed, item_cates), self.words.decode(mixed, word_cates)
        mi = mutual_information_term(items_given_words, words_given_items)
        return rows, text, item_logits, word_logits, item_logvars, word_logvars, mi

    def loss(self, users: torch.Tensor, *unused: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        self.steps += 1
        anneal = min(p.anneal_cap, float(self.steps) / p.anneal_steps) if p.anneal_steps > 0 else p.anneal_cap
        rows, text, item_logits, word_logits, item_lv, word_lv, mi = self.forward_users(users)
        items = multinomial_nll(rows, item_logits) + anneal * kl_term(item_lv)
        words = multinomial_nll(text, word_logits) + anneal * kl_term(word_lv)
        return {"loss": items + p.lambda_text * words + p.lambda_mi * mi, "items": items, "words": words, "mi": mi}

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.forward_users(users)[2]

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.score(users).gather(1, items.view(-1, 1)).view(-1)
