"""The documents that state what the code does, checked against the code."""
import json
import re
import subprocess
from pathlib import Path

import webjit
from webjit.kernels import schedule_key, signature, spec_from_json
from webjit.schedule import accelerated_choice, choose, families
from webjit.schedule_db import Record, ScheduleDB
from webjit.targets import WasmTarget
from test_cli import tiny_model

ROOT = Path(__file__).resolve().parents[1]


def doc_manifest() -> dict:
    text = (ROOT / "docs" / "bundle.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def test_bundle_md_example_is_what_the_compiler_writes(tmp_path):
    """docs/bundle.md's manifest is the tiny CLI model compiled with one record: byte for byte
    the manifest webjit writes for it today."""
    model = tiny_model(tmp_path / "tiny.onnx")
    plain = webjit.compile(model, {"x": (3, 8)})
    spec = spec_from_json(plain.manifest["kernels"][0]["spec"])
    family = families("wasm")["matmul"]
    anywhere = accelerated_choice(family, spec, choose(spec, "wasm", WasmTarget(), ScheduleDB()).default).config
    default = family.default_config(spec, WasmTarget())
    fma = next(c for c in family.candidates(spec, WasmTarget(threads=2, relaxed_simd=True)) if c not in (anywhere, default))
    db = ScheduleDB()
    db.add(Record("wasm/chromium-156/2-cores/relaxed-simd", "wasm", "matmul", signature(spec), schedule_key(spec),
                  family.config_to_json(fma), {"threads": 2, "relaxed_simd": True}, 0.0011,
                  family.config_to_json(family.default_config(spec, WasmTarget())), 0.0014, 9))
    manifest = webjit.compile(model, {"x": (3, 8)}, webjit.Options(schedules=db)).manifest
    assert doc_manifest() == json.loads(json.dumps(manifest))


def test_bundle_md_example_passes_the_runtimes_checks(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(doc_manifest()))
    script = ("import { parseManifest, checkWebgpuLayout, hasWasm, hasWebgpu } from "
              f"{json.dumps(str(ROOT / 'runtime_web' / 'src' / 'manifest.js'))};\n"
              "import { readFileSync } from 'node:fs';\n"
              f"const m = parseManifest(readFileSync({json.dumps(str(tmp_path / 'manifest.json'))}), 'doc');\n"
              "checkWebgpuLayout(m);\n"
              "if (!hasWasm(m) || !hasWebgpu(m)) throw new Error('a backend part is missing');\n"
              "console.log('ok');\n")
    (tmp_path / "check.mjs").write_text(script)
    done = subprocess.run(["node", str(tmp_path / "check.mjs")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
