"""A bundle as one zip (what compileInBrowser hands over and a page saves): webjit.load takes
its bytes, with entries stored (Bundle.zip_bytes) or deflated (any zip tool's), and runs it
like the folder; a file that is not a bundle's zip is one sentence."""
from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np

import webjit
from webjit.runner import runtime_dir
from test_cli import tiny_model

SCRIPT = """
import { load } from '%(runtime)s/src/node.js';
import { readFileSync } from 'node:fs';
const out = {};
for (const [label, file] of Object.entries(JSON.parse(process.argv[2]))) {
  try {
    const session = await load(new Uint8Array(readFileSync(file)), { backend: 'wasm', threads: 1 });
    const y = await session.run({ x: Float32Array.from({ length: 24 }, (_, i) => (i - 12) / 7) });
    out[label] = Array.from(y.y.data);
    session.release();
  } catch (err) {
    out[label] = { error: err.message };
  }
}
console.log(JSON.stringify(out));
"""


def test_load_takes_a_bundle_zip_stored_or_deflated(tmp_path):
    model = tiny_model(tmp_path / "tiny.onnx")
    bundle = webjit.compile(model, {"x": (3, 8)}, webjit.Options(backends=("wasm",)))
    files = {"stored": tmp_path / "stored.zip", "deflated": tmp_path / "deflated.zip", "broken": tmp_path / "broken.zip",
             "other": tmp_path / "other.zip"}
    files["stored"].write_bytes(bundle.zip_bytes())
    with zipfile.ZipFile(files["deflated"], "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", bundle.manifest_bytes())
        for rel, payload in bundle.files.items():
            archive.writestr(rel, payload)
    files["broken"].write_bytes(bundle.zip_bytes()[:-200])
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("notes.txt", b"not a bundle")
    files["other"].write_bytes(other.getvalue())
    script = tmp_path / "zip.mjs"
    script.write_text(SCRIPT % {"runtime": runtime_dir().as_posix()})
    done = subprocess.run(["node", str(script), json.dumps({k: str(v) for k, v in files.items()})],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    import onnxruntime
    x = ((np.arange(24, dtype=np.float32) - 12) / 7).reshape(3, 8)
    want = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for label in ("stored", "deflated"):
        np.testing.assert_allclose(np.asarray(out[label], np.float32).reshape(3, 5), want, rtol=1e-5, atol=1e-6)
    assert out["broken"] == {"error": "the bundle zip is not a readable zip (no end of central directory)"}
    assert out["other"]["error"].startswith("bundle file manifest.json is missing"), out["other"]
