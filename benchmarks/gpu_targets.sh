#!/usr/bin/env bash
# Issue 4's and issue 5's target tables on one GPU machine, in parts meant to fit one 10-minute call each on
# an H100 with 16 CPU cores, not yet timed there (the seeds and fits of a part run side by side as processes):
#
#   bash benchmarks/gpu_targets.sh cluster-mnist     # autoencoder (shifted/rotated digits, 250 epochs) + UMAP + GMM,
#                                                    # then IDEC, 3 seeds; raw-pixel baselines in the same call
#   bash benchmarks/gpu_targets.sh cluster-fashion   # Fashion-MNIST: conv autoencoder (32/64/128, batch norm),
#                                                    # 100 epochs, images as they are (on 10,000 images, 25 epochs,
#                                                    # 2 CPU cores, seed 0: NMI 0.661 against 0.646 for the dense one
#                                                    # and 0.636 for the dense one with shifts), then IDEC
#   bash benchmarks/gpu_targets.sh semi              # FixMatch, both settings, 3 label draws + both baselines
#   bash benchmarks/gpu_targets.sh byol              # BYOL-pretrained ResNet-18, then FixMatch, both settings
#
# Data come from $FEWLABEL_DATA (or the default data folder); results and logs go to benchmarks/results
# (or the folder given as the second argument). Each part prints its summary lines and its wall time.
# For a quick check of the script itself: ROWS=2000 EPOCHS=2 bash benchmarks/gpu_targets.sh cluster-mnist /tmp/t
set -euo pipefail
part=${1:?"which part: cluster-mnist, cluster-fashion, semi or byol"}
out=${2:-$(dirname "$0")/results}
here=$(dirname "$0")
mkdir -p "$out"
start=$SECONDS

cluster() {  # data epochs model augment
    local data=$1 epochs=${EPOCHS:-$2} model=$3 augment=$4 rows=${ROWS:-0}
    python3 "$here/cluster_codes.py" --data "$data" --rows "$rows" --seeds 0 --out "$out/cluster-$data-raw.json" \
        > "$out/cluster-$data-raw.log" 2>&1 &
    for s in 0 1 2; do
        python3 "$here/cluster_codes.py" --data "$data" --seeds 1 --first-seed $s --epochs "$epochs" \
            --rows "$rows" --model "$model" --augment "$augment" --idec-epochs "${IDEC_EPOCHS:-20}" --skip-raw --out "$out/cluster-$data-s$s.json" \
            > "$out/cluster-$data-s$s.log" 2>&1 &
    done
    wait
    grep -h "^$data" "$out"/cluster-"$data"-*.log | grep -v "{'nmi'" || true
}

case $part in
    cluster-mnist) cluster mnist 250 dense shift ;;
    cluster-fashion) cluster fashion-mnist 100 conv none ;;
    semi) python3 "$here/semi_supervised.py" --method fixmatch --jobs 7 --epochs "${EPOCHS:-50}" --out "$out/semi_supervised-fixmatch.json" \
              2>&1 | tee "$out/semi_supervised-fixmatch.log" | grep "labels" || true ;;
    byol) python3 "$here/semi_supervised.py" --method byol_fixmatch --pretrain-epochs 100 --jobs 7 --epochs "${EPOCHS:-50}" \
              --out "$out/semi_supervised-byol_fixmatch.json" \
              2>&1 | tee "$out/semi_supervised-byol_fixmatch.log" | grep "labels" || true ;;
    *) echo "unknown part '$part': choose cluster-mnist, cluster-fashion, semi or byol" >&2; exit 2 ;;
esac
echo "$part: $((SECONDS - start)) s wall time"
