#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite. Real MNIST / Fashion-MNIST are read from
# $FEWLABEL_DATA, or from ../shared/data beside the checkout when that exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report test opens report.html in headless Chromium (Debian's chromium): install it where it is missing and
# apt-get can; if that fails the test is skipped with a message, and the run goes on.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
  { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; } \
    || echo "note: chromium could not be installed; the report's browser test will be skipped" >&2
fi
if [ -z "${FEWLABEL_DATA:-}" ] && [ -d ../shared/data ]; then
  export FEWLABEL_DATA="$(cd ../shared/data && pwd)"
fi
# The tests run in parallel worker processes (pytest-xdist), one per core up to 4, each file's tests in one
# worker (module fixtures are fitted once); each worker takes its share of the cores (tests/conftest.py).
# FEWLABEL_TEST_WORKERS=1 runs them in this one process.
WORKERS=${FEWLABEL_TEST_WORKERS:-$(.venv/bin/python -c "import os; n = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(); print(max(1, min(4, n or 1)))")}
if [ "$WORKERS" -gt 1 ]; then
  exec .venv/bin/python -m pytest -q -n "$WORKERS" --dist loadfile --no-loadscope-reorder "$@"
fi
exec .venv/bin/python -m pytest -q "$@"
