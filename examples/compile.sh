#!/usr/bin/env bash
# The in-browser compiler's demo page: sets up, exports MiniLM-L6 (real weights), compiles a
# bundle of it on the host to compare with, and serves the page with `webjit serve` (which also
# serves Pyodide and webjit's wheel). Open the printed URL and drop an .onnx file on the page,
# or add ?model=/models/model.onnx to compile the MiniLM-L6 file served beside it.
#   Usage: bash examples/compile.sh [PORT]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${1:-8000}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"

bash "$ROOT/scripts/setup.sh"
echo "== exporting MiniLM-L6 (sequence 128) to ONNX (cached under ~/.cache/webjit/models)"
MODEL="$("$PYTHON" -c "from webjit.models import export_model; print(export_model('minilm', seq=128))" 2>/dev/null | tail -n 1)"
BUNDLE="$ROOT/build/minilm-s128-wasm"
if [ ! -f "$BUNDLE/manifest.json" ] || [ "$MODEL" -nt "$BUNDLE/manifest.json" ]; then
    echo "== webjit compile (the pre-compiled bundle the page compares with)"
    "$PYTHON" -m webjit compile "$MODEL" --dim batch=1 --dim seq=128 --backends wasm -o "$BUNDLE"
fi
echo "== webjit serve (Ctrl-C stops it); the model is at /models/$(basename "$MODEL")"
exec "$PYTHON" -m webjit serve "$BUNDLE" --page "$ROOT/examples/compile" \
    --mount "/models/=$(dirname "$MODEL")" --port "$PORT"
