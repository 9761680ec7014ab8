#!/usr/bin/env bash
# Set up .venv (if needed) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=offline WANDB_SILENT=true RAY_USAGE_STATS_ENABLED=0
exec .venv/bin/python -m pytest -q --durations=15 "$@"
