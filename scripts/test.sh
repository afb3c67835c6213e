#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, then run the JS runtime's
# tests, the per-commit Python tests and the slow full-size model tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
cd "$ROOT"

bash scripts/setup.sh
echo "== runtime_web (node --test)"
(cd runtime_web && npm test --silent)
echo "== pytest (per-commit suite)"
"$PYTHON" -m pytest -q -p no:cacheprovider
echo "== pytest -m slow (full-size models in headless Chromium)"
"$PYTHON" -m pytest -q -p no:cacheprovider -m slow
