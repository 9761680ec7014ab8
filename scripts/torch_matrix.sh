#!/usr/bin/env bash
# The tests of what traces, compiles or depends on torch's numerics (the whole-step graph, the step options, mixed
# precision, checkpoints, the losses) on every torch the project supports beside the one the default install gives:
# torch 2.11 (pyproject.toml's floor, and the GPU image's). Each version is installed once, with its torchvision,
# into .torch-matrix/ (its own folder, put first on PYTHONPATH; the rest of the stack is .venv's), then its tests run.
#   bash scripts/torch_matrix.sh                    # every version below
#   TORCH_MATRIX="2.11.0:0.26.0" bash scripts/torch_matrix.sh -k graph     # other versions, pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=offline WANDB_SILENT=true RAY_USAGE_STATS_ENABLED=0
TESTS=(tests/test_graph_step.py tests/test_step_options.py tests/test_mixed_precision.py tests/test_checkpoint.py
       tests/test_losses.py)
for pair in ${TORCH_MATRIX:-2.11.0:0.26.0}; do
    torch_version=${pair%%:*} vision_version=${pair##*:}
    dir=.torch-matrix/torch-$torch_version
    if [ ! -f "$dir/.installed" ]; then
        rm -rf "$dir"
        # the machine's pip may cap torch at the default install's version: this one is named explicitly
        PIP_CONSTRAINT="" .venv/bin/python -m pip install --quiet --no-deps --no-compile --constraint /dev/null \
            --target "$dir" "torch==$torch_version" "torchvision==$vision_version"
        touch "$dir/.installed"
    fi
    echo "torch $torch_version (torchvision $vision_version):"
    PYTHONPATH="$PWD/$dir" .venv/bin/python -c "import torch, torchvision; print('  imported', torch.__version__)"
    PYTHONPATH="$PWD/$dir" .venv/bin/python -m pytest -q -p no:cacheprovider "${TESTS[@]}" "$@"
done
