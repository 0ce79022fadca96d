#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite. Real MNIST / Fashion-MNIST are read from
# $FEWLABEL_DATA, or from ../shared/data beside the checkout when that exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${FEWLABEL_DATA:-}" ] && [ -d ../shared/data ]; then
  export FEWLABEL_DATA="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/python -m pytest -q "$@"
