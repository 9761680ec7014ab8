#!/usr/bin/env bash
# One prepared GPU check that cannot waste its one chance, on one H100/H200, in under 5 minutes (its phases' limits
# are cut to what is left of GPU_CHECK_TOTAL_S, 300 s, and the last report has 8 s). The phases, in the order of
# what the README needs most, so that a check stopped early has already brought those back:
#   imports   every Python package the harness imports, imported first: one line per missing package, then stop;
#   bench-no  the step benchmark (scripts/bench.py) of fashion-mnist and digits at fp32: eager, fused Adam,
#             channels-last, TF32, train.deterministic, the config's defaults, each beside eager in the same rounds;
#   bench-bf16  the same at bf16;
#   bench-compile  the whole-step graph (defaults+step: one graph, one CUDA graph) and torch.compile with CUDA graphs
#             (reduce-overhead) against eager, bf16, fashion-mnist;
#   determinism  two launches of one 40-step digits run with train.deterministic=true: equal weights on CUDA;
#   shards    Fashion-MNIST shards from the carried IDX files;
#   train     a 300-step bf16 Fashion-MNIST CoDeGAN run with its evaluation (clustering, domain FID/KID/IS; the
#             domain classifier trained first, from an empty cache);
#   nccl      with two or more GPUs, a two-process NCCL run whose ranks end with equal weights.
# Timeline (estimated from this CPU's measured costs and the GPU machine's 16 cores; seconds): machine start-up
# outside the check 60-180; imports 10; bench-no 30; bench-bf16 30; bench-compile 60 (two compilations of the
# fashion-mnist step by inductor, at most 120 allowed by its limit); determinism 25 (digits shards 2, two launches
# of 10 each); shards 10 (9.8 on 2 CPU cores); train 60 (the domain classifier: 112 on 2 CPU cores, mostly PNG
# decoding; 300 bf16 steps a few seconds); report 5. About 260 s of check: with start-up, one attempt takes 5-7
# of the session's 15 device minutes, so a rerun fits. A phase that runs past its estimate costs only the phases
# after it, which get what is left.
# Each phase has its own time limit, cut to what is left of the total. A benchmark writes its JSON after each
# variant's first iterations (its compile time) and after every round, and a variant that fails (a compile error)
# is recorded with its error while the others are measured (scripts/bench_step.py). As soon as a phase ends,
# its JSON and the log so far are copied into $OUT and results-cuda.json there is rewritten from everything done so
# far (written to a temporary name and renamed: always whole), so a command stopped at its limit still brings back
# every finished phase and the rounds of the one it was in. $OUT then holds at most 5 files: gpu_check.log,
# results-cuda.json, bench-no.json, bench-bf16.json, bench-compile.json. results-cuda.json is also written to bench/
# (GPU_CHECK_OUT).
#
# What travels. The GPU machine has Python 3.12 with torch, torchvision, accelerate, numpy, scipy, scikit-learn,
# pillow, pyyaml, requests, tqdm, filelock, psutil and threadpoolctl, no package registry and no Fashion-MNIST.
# Once, in the repository root here (the wheels are pure Python; their own needs are all on that machine):
#   printf '/.whl/\n/.fmnist/\n' >> "$(git rev-parse --git-path info/exclude)"
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       webdataset==1.0.2 braceexpand==0.1.7 clean-fid==0.1.35
#   mkdir -p .fmnist && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .fmnist/    # the four gzipped IDX files
# Then one call of the device tool's run, with carry [".whl", ".fmnist"] and timeout_s 360:
#   bash scripts/gpu_check.sh
# and commit bench/results-cuda.json (from $OUT) with the README's GPU table.
#
# Settings (environment):
#   GPU_CHECK_IDX    folder with the four Fashion-MNIST IDX files (default .fmnist)
#   GPU_CHECK_CARD   dataset card of the training run (default fashion-mnist; a card path for other IDX data)
#   GPU_CHECK_OUT    where results-cuda.json goes (default bench/)
#   GPU_CHECK_TOTAL_S  the whole check's limit in seconds (default 300)
#   GPU_CHECK_DRY=1  on a CPU: one thread, tiny nets and batches, 2 rounds, 3 training steps, no FID, no NCCL run,
#                    every phase's real command (the whole-step graph compiled by inductor for the CPU); results go to
#                    a temporary folder unless GPU_CHECK_OUT is set (tests/test_gpu_check.py)
#   PYTHON           the interpreter (default python3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY:-0}
IDX=${GPU_CHECK_IDX:-.fmnist}
CARD=${GPU_CHECK_CARD:-fashion-mnist}
TOTAL=${GPU_CHECK_TOTAL_S:-300}
GRACE=3    # seconds between a phase's TERM and its KILL
RESERVE=${GPU_CHECK_RESERVE_S:-8}  # kept for the last report
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
RUNS="$WORK/runs" DDP="$WORK/ddp" DET="$WORK/det"
LOG="$LOGS/gpu_check.log"
started=$(date +%s)
say() { echo "[gpu_check $(($(date +%s) - started))s] $*" | tee -a "$LOG"; }
PHASES=()
GPUS=0

to_out() {  # copy files into $OUT under a temporary name, then rename: whole files only, as soon as they exist
    [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] || return 0
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "$OUT/.$(basename "$f").tmp" && mv -f "$OUT/.$(basename "$f").tmp" "$OUT/$(basename "$f")"
    done
}

publish() {  # everything done so far: results-cuda.json (atomic), the phase JSONs and the log, into $OUT
    local benches=()
    for b in "$LOGS"/bench-no.json "$LOGS"/bench-bf16.json "$LOGS"/bench-compile.json; do
        [ -f "$b" ] && benches+=("$b")
    done
    $PY -m scripts.gpu_report --quiet --bench "${benches[@]}" --runs "$RUNS" --ddp "$DDP" --det "$DET" \
        --gpus "$GPUS" --phase "${PHASES[@]}" --out "$RESULTS/results-cuda.json" >>"$LOG" 2>&1
    to_out "$RESULTS/results-cuda.json" "${benches[@]}" "$LOG"
}

phase() {  # phase NAME LIMIT_S COMMAND...: run it within its limit (cut to what is left), log it, publish
    local name=$1 limit=$2 rc state left
    shift 2
    left=$((TOTAL - RESERVE - GRACE - ($(date +%s) - started)))
    [ "$limit" -le "$left" ] || limit=$left
    if [ "$limit" -lt 5 ]; then
        PHASES+=("$name=skipped: no time left of ${TOTAL}s")
        say "$name: skipped, no time left"
        return 1
    fi
    say "$name (at most ${limit}s)"
    timeout -k "$GRACE" "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
        state=ok
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
        state="stopped at its limit of ${limit}s"
    else
        state="failed (exit $rc)"
    fi
    PHASES+=("$name=$state")
    { echo "----- $name: $state"; tail -c 20000 "$LOGS/$name.log"; echo "-----"; } >>"$LOG"
    say "$name: $state"
    [ "$state" = ok ] || tail -5 "$LOGS/$name.log"
    publish
    [ "$state" = ok ]
}

if compgen -G ".whl/*.whl" >/dev/null; then
    phase wheels 20 $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

IMPORTS='
import importlib, sys
need = {"torch": "torch", "torchvision": "torchvision", "accelerate": "accelerate", "numpy": "numpy",
        "scipy": "scipy", "sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml", "filelock": "filelock",
        "tqdm": "tqdm", "requests": "requests", "psutil": "psutil", "threadpoolctl": "threadpoolctl",
        "braceexpand": "braceexpand", "webdataset": "webdataset", "cleanfid": "clean-fid"}
missing = 0
for module, package in need.items():
    try:
        importlib.import_module(module)
    except Exception as exc:
        missing += 1
        print(f"missing Python package: {package} (import {module}: {type(exc).__name__}: {exc}); carry its wheel"
              " in .whl, see the top of scripts/gpu_check.sh")
if not missing:  # the harness itself, as the check runs it
    for module in ("harness.training.trainer", "harness.metrics.fid", "scripts.bench", "scripts.gpu_report"):
        importlib.import_module(module)
    import torch
    print(f"imports ok: torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s)")
sys.exit(1 if missing else 0)
'
if ! phase imports 30 $PY -c "$IMPORTS"; then
    grep -h "^missing Python package" "$LOGS/imports.log"
    say "stopped: the harness cannot run here"
    exit 1
fi

if [ "$DRY" = 1 ]; then
    TINY=(model.hidden=32 model.g_width=8 model.d_width=8 model.e_width=8 model.zn_dim=8 train.batch_size=16
          train.g_batch_size=16 codegan.e_batch_size=16)
    BENCH=(--rounds 2 --iters 1 --warmup 0 --no-parts --variants eager fused defaults)
    COMPILE=(--rounds 2 --iters 1 --warmup 0 --no-parts --variants eager fused defaults+step)
    TRAIN=(train.steps=3 train.log_every=1 train.ckpt_every=3 eval.quality=[] eval.kmeans_seeds=1
           eval.kmeans_n_init=1 "${TINY[@]}")
    DET_STEPS=3
    LIMITS=(60 60 120 60 90 60)  # bench-no bench-bf16 compile train determinism nccl (seconds)
else
    GPUS=$(sed -n 's/^imports ok: .*, \([0-9]*\) GPU(s)$/\1/p' "$LOGS/imports.log")
    [ "${GPUS:-0}" -ge 1 ] || { say "no CUDA GPU visible (GPU_CHECK_DRY=1 runs this on a CPU)"; publish; exit 1; }
    TINY=()
    BENCH=(--rounds 3 --block-s 0.2 --warmup 3 --variants eager fused channels_last tf32 deterministic defaults)
    COMPILE=(--rounds 3 --block-s 0.2 --warmup 3 --no-parts --variants eager reduce-overhead defaults+step)
    TRAIN=(train.steps=300 train.log_every=50 train.ckpt_every=300 data.num_workers=4 eval.kmeans_seeds=2)
    DET_STEPS=40
    LIMITS=(45 45 120 90 40 30)
fi
status=0

bench() {  # bench NAME LIMIT PRESETS PRECISION ARGS...
    local name=$1 limit=$2 presets=$3 precision=$4
    shift 4
    # shellcheck disable=SC2086
    phase "$name" "$limit" $PY -m scripts.bench --sections step --presets $presets --precisions "$precision" "$@" \
        --out "$LOGS/$name.json" "${TINY[@]}"
}
bench bench-no "${LIMITS[0]}" "fashion-mnist digits" no "${BENCH[@]}" || status=1
bench bench-bf16 "${LIMITS[1]}" "fashion-mnist digits" bf16 "${BENCH[@]}" || status=1

if [ "$DRY" = 1 ]; then
    bench bench-compile "${LIMITS[2]}" digits bf16 "${COMPILE[@]}" || status=1
else
    bench bench-compile "${LIMITS[2]}" fashion-mnist bf16 "${COMPILE[@]}" || status=1
fi

# two launches of one deterministic digits run (digits shards built first, from scikit-learn's copy)
DET_RUN="$PY -m harness.run --config digits data.root=$WORK/digits log.wandb=disabled log.progress=false \
train.deterministic=true train.steps=$DET_STEPS train.log_every=10 train.ckpt_every=$DET_STEPS train.trace=true \
eval.quality=[] eval.kmeans_seeds=1 eval.pixel_baseline=false"
phase determinism "${LIMITS[4]}" bash -c "$PY -m harness.commands.data build digits --root $WORK/digits && \
$DET_RUN log.root=$DET/a && $DET_RUN log.root=$DET/b" || status=1

if [ -d "$IDX" ]; then
    phase shards 25 $PY -m harness.commands.data build "$CARD" --source "$IDX" --root "$WORK/data" || status=1
else
    say "no IDX folder $IDX: the training run is skipped (the benchmarks need no data)"
fi

if [ -d "$WORK/data" ]; then
    phase train "${LIMITS[3]}" $PY -m harness.run --config fashion-mnist "data.dataset=$CARD" "data.root=$WORK/data" \
        "log.root=$RUNS" log.wandb=disabled log.progress=false train.mixed_precision=bf16 name=gpu-check \
        "${TRAIN[@]}" || status=1
fi

if [ "$GPUS" -ge 2 ] && [ -d "$WORK/data" ]; then
    phase nccl "${LIMITS[5]}" $PY -m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1 \
        --mixed_precision no --dynamo_backend no harness/run.py --config fashion-mnist "data.dataset=$CARD" \
        "data.root=$WORK/data" "log.root=$DDP" log.wandb=disabled log.progress=false name=gpu-check-ddp \
        train.steps=30 train.log_every=10 train.ckpt_every=30 train.trace=true eval.quality=[] eval.kmeans_seeds=1 \
        || status=1
else
    PHASES+=("nccl=skipped: $GPUS GPU")
fi

say "report"
benches=()
for b in "$LOGS"/bench-no.json "$LOGS"/bench-bf16.json "$LOGS"/bench-compile.json; do [ -f "$b" ] && benches+=("$b"); done
timeout -k 2 "$RESERVE" $PY -m scripts.gpu_report --bench "${benches[@]}" --runs "$RUNS" --ddp "$DDP" --det "$DET" \
    --gpus "$GPUS" --phase "${PHASES[@]}" --out "$RESULTS/results-cuda.json" 2>&1 | tee -a "$LOG"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
to_out "$RESULTS/results-cuda.json" "$LOG"
say "done (exit $status)"
to_out "$LOG"
exit $status
