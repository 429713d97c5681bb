"""``alignrec serve``: the HTTP recommendation service and its web page for a trained run."""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path

from alignrec.errors import ConfigError

EXAMPLES = """examples:
  alignrec serve runs/quickstart/run                      # http://127.0.0.1:8000/ (page), /docs (API)
  alignrec serve runs/quickstart/run --port 9000 --max-k 50
  ALIGNREC_API_KEY=change-me-please alignrec serve runs/sci-alignrec --host 0.0.0.0
  alignrec serve runs/big-run --index hnsw               # approximate top-k; recall@20 is printed at start
  alignrec serve exported/run/export                      # an export folder on its own, without the run
"""
API_KEY_ENV = "ALIGNREC_API_KEY"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve recommendations over HTTP, with a web page", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a finished run directory (exported first if needed) or an export folder")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help=f"require this key on every endpoint but /health (default: ${API_KEY_ENV})")
    p.add_argument("--index", default="auto", choices=["auto", "exact", "hnsw", "ivf"],
                   help="top-k index: exact inner product, or approximate (auto: hnsw from 100000 items)")
    p.add_argument("--max-k", type=int, default=100, help="largest k a request may ask for")
    p.add_argument("--max-upload-mb", type=float, default=5.0, help="largest image upload, in MB")
    p.add_argument("--max-image-mp", type=float, default=25.0,
                   help="largest uploaded image in megapixels (default 25), read from its header before decoding")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads for encoding new items (default 1: a request encodes one item, and more "
                        "threads made it ~15x slower on a busy 2-core machine)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import faiss
        import uvicorn

        from alignrec.serving.app import create_app
    except ImportError as exc:
        raise ConfigError(f"alignrec serve needs the serve extra ({exc.name} is missing): "
                          "pip install 'alignrec[serve]'") from exc
    from alignrec.runs.export import export_run, export_status
    from alignrec.serving.bundle import export_folder, load_bundle
    from alignrec.serving.service import RecommenderService, ServiceOptions
    from alignrec.training import configure_cpu

    configure_cpu(args.threads)
    if export_folder(args.run_dir) != Path(args.run_dir):  # a run directory, not an export folder on its own
        status = export_status(args.run_dir)
        if status is not None:
            print(f"export {status}; exporting {args.run_dir} ...", flush=True)
            export_run(args.run_dir)
    options = ServiceOptions(max_k=args.max_k, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                             index=args.index, max_image_pixels=int(args.max_image_mp * 1_000_000))
    service = RecommenderService(load_bundle(args.run_dir), options, log=lambda line: print(line, flush=True))
    # Each request searches one query: FAISS's OpenMP threads would only spin beside the encoders' torch threads.
    faiss.omp_set_num_threads(1)
    app = create_app(service, args.api_key or os.environ.get(API_KEY_ENV) or None)
    # The loaded run is ~500k objects that live as long as the process: frozen, the cyclic GC no longer walks
    # them in every full collection (a 0.25-0.7 s pause that requests allocating many objects would trigger).
    gc.collect()
    gc.freeze()
    info = service.info()
    print(f"serving {info['model']} on {info['dataset']}: {info['users']} users, {info['items']} items; "
          f"page http://{args.host}:{args.port}/, API docs /docs", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0
