#!/usr/bin/env bash
# Every time-and-memory benchmark (issue: performance and scale), results in benchmarks/results/ (or $OUT_DIR):
# speed of every model on amazon-scientific and MovieLens-100K, the kNN graph at catalogue scale, the synthetic
# ladder, Book-Crossing end to end and its 2-process training. Hours on a 2-core machine; run it idle.
# With REFERENCE_ALIGNREC and REFERENCE_MMREC set to checkouts of sjtulyf123/AlignRec_CIKM24 and enoche/MMRec, it
# first times their AlignRec, LightGCN and FREEDOM beside ours (benchmarks/reference_speed.py).
# A smoke run: QUICK=1 OUT_DIR=/tmp/x bash benchmarks/run_performance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${ALIGNREC_BENCH_DIR:-/tmp/alignrec-bench}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-benchmarks/results}
DATA=${DATA:-../shared/data}
mkdir -p "$WORK" "$OUT_DIR"
MODELS=$(python -c "from alignrec.models import available_models; print(' '.join(available_models()))")
if [ -n "${QUICK:-}" ]; then
  SPEED="--epochs 1 --evals 1"; KNN="--items 2000 --dim 16"; LADDER="--rungs 1 --steps 2 --eval-users 200"
  BX_K_CORE=5; BX="--max-ratings 30000 --epochs 1 --min-epochs 0 --pretrain-epochs 1"; DDP="--epochs 1"
  MODELS="pop bpr"
else
  BX_K_CORE=10; SPEED=""; KNN="--items 200000 --dim 512"; LADDER=""; BX=""; DDP="--epochs 3"
fi
if [ -n "${REFERENCE_ALIGNREC:-}" ] && [ -n "${REFERENCE_MMREC:-}" ]; then
  python benchmarks/reference_speed.py "$DATA/amazon-scientific" --alignrec-code "$REFERENCE_ALIGNREC" \
    --mmrec-code "$REFERENCE_MMREC" --set LightGCN:n_layers=2 --epochs "${REFERENCE_EPOCHS:-15}" \
    --threads "$THREADS" --ours --out "$OUT_DIR/reference-speed-amazon-scientific"
fi
# shellcheck disable=SC2086  # the settings above are word lists
python benchmarks/speed.py "$DATA/amazon-scientific" --models $MODELS --threads "$THREADS" $SPEED \
  --out "$OUT_DIR/speed-amazon-scientific"
python benchmarks/prepare_movielens.py "$WORK/movielens-100k-text"
# shellcheck disable=SC2086
python benchmarks/speed.py "$WORK/movielens-100k-text" --models $MODELS --threads "$THREADS" $SPEED \
  --out "$OUT_DIR/speed-movielens-100k"
# shellcheck disable=SC2086
python benchmarks/knn_scale.py $KNN --threads "$THREADS" --out "$OUT_DIR/knn-scale"
# shellcheck disable=SC2086
python benchmarks/scale_ladder.py --workdir "$WORK/ladder" --threads "$THREADS" $LADDER --out "$OUT_DIR/scale-ladder"
rm -rf "$WORK/bx-pipeline"
# shellcheck disable=SC2086
python benchmarks/book_crossing.py "$DATA/book-crossing" --workdir "$WORK/bx-pipeline" --k-core "$BX_K_CORE" \
  --threads "$THREADS" $BX \
  --out "$OUT_DIR/book-crossing"
# shellcheck disable=SC2086
python benchmarks/distributed_speed.py "$WORK/bx-pipeline/dataset" --k-core "$BX_K_CORE" --models bpr lightgcn \
  --threads "$THREADS" $DDP --out "$OUT_DIR/distributed-book-crossing"
