#!/usr/bin/env bash
# Creates .venv (if missing) and installs fewlabel into it with its test tools. Safe to re-run.
#   TORCH_SPEC   what to install for PyTorch when the venv has none (default torch==2.13.0; on a machine
#                with a GPU, pip picks the CUDA build of that version)
#   PYTHON       the interpreter to build the venv from (default python3; needs >= 3.10)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
