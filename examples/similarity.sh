#!/usr/bin/env bash
# The demo page: sentence similarity with MiniLM-L6 (real weights) in the browser. Sets up,
# exports the model, compiles it with the JIT's candidates and serves the page with
# `webjit serve` (COOP/COEP on, so WASM threads are used). Open the printed URL.
#   Usage: bash examples/similarity.sh [PORT]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${1:-8000}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"

bash "$ROOT/scripts/setup.sh"
echo "== exporting MiniLM-L6 (sequence 128) to ONNX (cached under ~/.cache/webjit/models)"
MODEL="$("$PYTHON" -c "from webjit.models import export_model; print(export_model('minilm', seq=128))" 2>/dev/null | tail -n 1)"
TOKENIZER="$("$PYTHON" -c "from webjit.models import minilm_tokenizer_dir; print(minilm_tokenizer_dir())")"
BUNDLE="$ROOT/build/minilm-jit-s128"
if [ ! -f "$BUNDLE/manifest.json" ] || [ "$MODEL" -nt "$BUNDLE/manifest.json" ]; then
    echo "== webjit compile --jit"
    "$PYTHON" -m webjit compile "$MODEL" --shape input_ids=1x128 --shape attention_mask=1x128 \
        --shape token_type_ids=1x128 --jit -o "$BUNDLE"
fi
echo "== webjit serve (Ctrl-C stops it)"
exec "$PYTHON" -m webjit serve "$BUNDLE" --page "$ROOT/examples/similarity" \
    --mount "/tokenizer/=$TOKENIZER" --port "$PORT"
