#!/usr/bin/env bash
# The accelerator proof from the repository root, nothing installed: benchmarks/gpu_run.py under a hard
# 9-minute limit (its own budget is --budget-s, default 480 s; the JSON is written after every step).
#   bash benchmarks/gpu_run.sh [--data CSV] [--out DIR] [--commit SHA] [--tiny]
cd "$(dirname "$0")/.." || exit 1
PYTHONPATH=. exec timeout 540 "${PYTHON:-python3}" benchmarks/gpu_run.py "$@"
