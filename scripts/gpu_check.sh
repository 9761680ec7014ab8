#!/usr/bin/env bash
# One prepared GPU check, under 8 minutes on one H100/H200:
#   1. the step benchmark (scripts/bench.py) of the Fashion-MNIST and digits presets at fp32 and bf16, each
#      variant beside eager in the same rounds (eager, fused Adam, channels-last, TF32, torch.compile with CUDA
#      graphs, the config's defaults), at most 150 s per precision (what finished is kept);
#   2. a 300-step bf16 Fashion-MNIST CoDeGAN run with its evaluation (clustering, domain FID/KID/IS);
#   3. with two or more GPUs, a two-process NCCL run whose ranks must end with equal weights (train.trace digests).
# It writes bench/results-cuda.json (device, versions, every figure) and prints a summary table.
#
# Preparing the carry (the GPU machine has no registry and no /usr/share/datasets), in the repository root here:
#   echo /.whl/ >> .git/info/exclude; echo /.fmnist/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       webdataset==1.0.2 braceexpand==0.1.7 clean-fid==0.1.35
#   mkdir -p .fmnist && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .fmnist/    # the four gzipped IDX files
# (everything else the harness imports is installed there; W&B and Ray are not needed: log.wandb=disabled), then
# run with carry [".whl", ".fmnist"]:   bash scripts/gpu_check.sh
#
# Settings (environment):
#   GPU_CHECK_IDX    folder with the four Fashion-MNIST IDX files (default .fmnist)
#   GPU_CHECK_CARD   dataset card of the training run (default fashion-mnist; a card path for other IDX data)
#   GPU_CHECK_OUT    where results-cuda.json goes (default bench/); it and the logs are also copied to $OUT if set
#   GPU_CHECK_DRY=1  on a CPU in seconds: one thread, tiny nets and batches, 2 rounds, 3 training steps, no FID,
#                    no NCCL run; results go to a temporary folder unless GPU_CHECK_OUT is set (tests/test_gpu_check.py)
#   PYTHON           the interpreter (default python3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY:-0}
IDX=${GPU_CHECK_IDX:-.fmnist}
CARD=${GPU_CHECK_CARD:-fashion-mnist}
export WANDB_MODE=disabled WANDB_SILENT=true PYTHONUNBUFFERED=1
if [ "$DRY" = 1 ]; then
    export CUDA_VISIBLE_DEVICES="" OMP_NUM_THREADS=1
    RESULTS=${GPU_CHECK_OUT:-$(mktemp -d)}
else
    RESULTS=${GPU_CHECK_OUT:-bench}
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOGS="$WORK/logs"
mkdir -p "$RESULTS" "$LOGS"
export CODEGAN_CACHE="$WORK/cache"
started=$(date +%s)
say() { echo "[gpu_check $(($(date +%s) - started))s] $*"; }

if compgen -G ".whl/*.whl" >/dev/null; then
    say "installing the carried wheels"
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY - <<'EOF' || exit 1
import importlib.util, sys
need = ("torch", "accelerate", "webdataset", "braceexpand", "cleanfid", "sklearn", "yaml")
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {', '.join(missing)} (carry them as wheels in .whl, see the top of this script)")
EOF

if [ "$DRY" = 1 ]; then
    GPUS=0
    TINY=(model.hidden=32 model.g_width=8 model.d_width=8 model.e_width=8 model.zn_dim=8 train.batch_size=16
          train.g_batch_size=16 codegan.e_batch_size=16)
    BENCH=(--rounds 2 --iters 1 --warmup 0 --no-parts --variants eager defaults)
    BENCH_LIMIT=60
    TRAIN=(train.steps=3 train.log_every=1 train.ckpt_every=3 eval.quality=[] eval.kmeans_seeds=1
           eval.kmeans_n_init=1 "${TINY[@]}")
    TRAIN_LIMIT=60
else
    GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
    [ "$GPUS" -ge 1 ] || { echo "no CUDA GPU visible (GPU_CHECK_DRY=1 runs this on a CPU)"; exit 1; }
    TINY=()
    BENCH=(--rounds 5 --block-s 0.3 --warmup 3 --profile
           --variants eager fused channels_last tf32 reduce-overhead defaults)
    BENCH_LIMIT=150
    TRAIN=(train.steps=300 train.log_every=50 train.ckpt_every=300 data.num_workers=4 eval.kmeans_seeds=2)
    TRAIN_LIMIT=90
fi

DATA="$WORK/data"
if [ -d "$IDX" ]; then
    say "building $CARD shards from $IDX"
    $PY -m harness.data build "$CARD" --source "$IDX" --root "$DATA" >"$LOGS/build.log" 2>&1 \
        || { cat "$LOGS/build.log"; exit 1; }
    tail -1 "$LOGS/build.log"
else
    say "no IDX folder $IDX: the training run is skipped (the benchmark needs no data)"
fi

status=0
for precision in no bf16; do
    say "step benchmark, mixed precision $precision"
    timeout "$BENCH_LIMIT" $PY -m scripts.bench --sections step --presets fashion-mnist digits \
        --precisions "$precision" "${BENCH[@]}" --out "$LOGS/bench-$precision.json" "${TINY[@]}" \
        >"$LOGS/bench-$precision.log" 2>&1
    rc=$?
    if [ $rc = 124 ]; then
        say "benchmark ($precision) stopped after ${BENCH_LIMIT}s: the presets that finished are kept"; status=1
    elif [ $rc != 0 ]; then
        say "benchmark ($precision) failed:"; tail -20 "$LOGS/bench-$precision.log"; status=1
    fi
done

RUNS="$WORK/runs"
if [ -d "$DATA" ]; then
    say "training run: ${TRAIN[0]}, bf16, with evaluation"
    timeout "$TRAIN_LIMIT" $PY -m harness.run --config fashion-mnist "data.dataset=$CARD" "data.root=$DATA" \
        "log.root=$RUNS" log.wandb=disabled log.progress=false train.mixed_precision=bf16 name=gpu-check \
        "${TRAIN[@]}" >"$LOGS/train.log" 2>&1 || { say "training run failed:"; tail -20 "$LOGS/train.log"; status=1; }
fi

if [ "$GPUS" -ge 2 ] && [ -d "$DATA" ]; then
    say "two-process NCCL run"
    timeout 50 $PY -m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \
        --dynamo_backend no harness/run.py --config fashion-mnist "data.dataset=$CARD" "data.root=$DATA" \
        "log.root=$WORK/ddp" log.wandb=disabled log.progress=false name=gpu-check-ddp train.steps=30 \
        train.log_every=10 train.ckpt_every=30 train.trace=true eval.quality=[] eval.kmeans_seeds=1 \
        >"$LOGS/ddp.log" 2>&1 || { say "NCCL run failed:"; tail -20 "$LOGS/ddp.log"; status=1; }
fi

say "report"
$PY -m scripts.gpu_report --bench "$LOGS/bench-no.json" "$LOGS/bench-bf16.json" --runs "$RUNS" --ddp "$WORK/ddp" --gpus "$GPUS" \
    --out "$RESULTS/results-cuda.json" || status=1
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then  # the device machine's folder of files that come back
    cp "$RESULTS/results-cuda.json" "$LOGS"/*.log "$OUT"/ 2>/dev/null
fi
say "done (exit $status)"

exit $status
