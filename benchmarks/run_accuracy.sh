#!/usr/bin/env bash
# Issue-2 accuracy tables: bpr / lightgcn / alignrec, 3 seeds each, on amazon-scientific (its own split)
# and MovieLens-100K (ratings >= 4, random 8:1:1, MiniLM text features). Results in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${ALIGNREC_BENCH_DIR:-/tmp/alignrec-bench}
THREADS=${THREADS:-2}
python benchmarks/compare.py ../shared/data/amazon-scientific --models bpr lightgcn alignrec --seeds 1 2 3 \
  --threads "$THREADS" --out benchmarks/results/accuracy-amazon-scientific.json
python benchmarks/prepare_movielens.py "$WORK/movielens-100k-text"
python benchmarks/compare.py "$WORK/movielens-100k-text" --split random --rating-threshold 4 \
  --models bpr lightgcn alignrec --seeds 1 2 3 --threads "$THREADS" \
  --out benchmarks/results/accuracy-movielens-100k.json
