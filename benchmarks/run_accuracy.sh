#!/usr/bin/env bash
# The README's accuracy tables: bpr / lightgcn / alignrec on amazon-scientific (its own split) and MovieLens-100K
# (ratings >= 4, random 8:1:1, MiniLM text features). Results in benchmarks/results/ (or $OUT_DIR).
# Smaller runs for a smoke test: SEEDS="1" MODELS="bpr" EXTRA="--epochs 1" OUT_DIR=/tmp/x bash benchmarks/run_accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${ALIGNREC_BENCH_DIR:-/tmp/alignrec-bench}
THREADS=${THREADS:-2}
SEEDS=${SEEDS:-1 2 3 4 999}
MODELS=${MODELS:-bpr lightgcn alignrec}
OUT_DIR=${OUT_DIR:-benchmarks/results}
EXTRA=${EXTRA:-}
# shellcheck disable=SC2086  # SEEDS, MODELS and EXTRA are word lists
python benchmarks/compare.py ../shared/data/amazon-scientific --models $MODELS --seeds $SEEDS \
  --threads "$THREADS" $EXTRA --out "$OUT_DIR/accuracy-amazon-scientific.json"
python benchmarks/prepare_movielens.py "$WORK/movielens-100k-text"
# shellcheck disable=SC2086
python benchmarks/compare.py "$WORK/movielens-100k-text" --split random --rating-threshold 4 \
  --models $MODELS --seeds $SEEDS --threads "$THREADS" $EXTRA \
  --out "$OUT_DIR/accuracy-movielens-100k.json"
