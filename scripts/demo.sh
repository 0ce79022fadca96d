#!/usr/bin/env bash
# Sets everything up, then runs `fewlabel demo` (scikit-learn's bundled digits: no download).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/fewlabel demo "$@"
