"""Kernels specialised on demand: a symbolic decoder bundle (small GPT-2 with its cache) run in
Node asks the in-browser compiler (Pyodide, with webjit's page wheel) for its kernels at the
sizes it ran most, checks and times them against the generic ones, and swaps the faster in
for runs at those sizes only. Outputs stay what onnxruntime computes, at those sizes and at
others; the errors a user can cause are one sentence."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import webjit
from webjit.browser import specialise_for_page

from webjit.kernels import spec_from_json
from webjit.models import export_model
from webjit.page_wheel import write_page_wheel
from webjit.runner import pyodide_dir, runtime_dir
from webjit.symbolic import SymbolicError, specialise
from test_generate import bundle, model  # noqa: F401 (fixtures: the small GPT-2 with its cache, compiled for WASM)

LAYERS, HEADS, HEAD = 2, 2, 64  # the small GPT-2's cache

NODE_SCRIPT = """
import { load } from '%(runtime)s/src/node.js';
import { pathToFileURL } from 'node:url';
const [bundle, wheel, pyodide] = process.argv.slice(2);
const where = { pyodideURL: pathToFileURL(pyodide + '/') + '', wheelURL: pathToFileURL(wheel) + '' };
function feeds(past, seq) {
  const f = { input_ids: { data: BigInt64Array.from({ length: seq }, (_, i) => BigInt(i + 5)), shape: [1, seq] },
    attention_mask: { data: new BigInt64Array(past + seq).fill(1n), shape: [1, past + seq] } };
  for (let l = 0; l < %(layers)d; l++) for (const kv of ['key', 'value']) {
    f[`past_key_values.${l}.${kv}`] = { data: Float32Array.from({ length: %(heads)d * past * %(head)d },
      (_, i) => Math.sin(i * 0.37 + l)), shape: [1, %(heads)d, past, %(head)d] };
  }
  return f;
}
const plain = (outputs) => Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v.data)]));
const session = await load(bundle, { backend: 'wasm', threads: 1, specialize: { after: 2, ...where } });
const event = new Promise((resolve) => session.addEventListener('specialize', (e) => resolve(e.detail), { once: true }));
const out = {};
out.generic = plain(await session.run(feeds(16, 1)));
out.other = plain(await session.run(feeds(5, 3)));
await session.run(feeds(16, 1));  // the second run at these sizes: the session asks for them
out.report = await event;
out.specialised = plain(await session.run(feeds(16, 1)));
out.otherAfter = plain(await session.run(feeds(5, 3)));
out.again = plain(await session.run(feeds(16, 1)));
try {
  await session.specialize({ sequence: 1 });
} catch (err) {
  out.missing = err.message;
}
session.release();
const fixed = await load(bundle, { backend: 'wasm', threads: 1 });
try {
  await fixed.specialize();
} catch (err) {
  out.notRun = err.message;
}
fixed.release();
console.log(JSON.stringify(out));
"""


def feeds(past: int, seq: int) -> dict:
    f = {"input_ids": np.arange(5, 5 + seq, dtype=np.int64)[None], "attention_mask": np.ones((1, past + seq), np.int64)}
    for layer in range(LAYERS):
        for kv in ("key", "value"):
            values = np.sin(np.arange(HEADS * past * HEAD) * 0.37 + layer).astype(np.float32)
            f[f"past_key_values.{layer}.{kv}"] = values.reshape(1, HEADS, past, HEAD)
    return f


def test_specialised_kernels_run_at_their_sizes_and_agree(model, bundle, tmp_path):
    import onnxruntime
    script = tmp_path / "specialize.mjs"
    script.write_text(NODE_SCRIPT % {"runtime": runtime_dir().as_posix(), "layers": LAYERS, "heads": HEADS, "head": HEAD})
    wheel = write_page_wheel(tmp_path / "wheel")
    assert pyodide_dir() is not None, "npm install in runtime_web (pyodide is a dev dependency)"
    done = subprocess.run(["node", str(script), str(bundle), str(wheel), str(pyodide_dir())], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for key, (past, seq) in (("generic", (16, 1)), ("other", (5, 3))):
        want = dict(zip(names, session.run(None, feeds(past, seq))))
        for name, values in out[key].items():
            assert np.abs(np.asarray(values) - want[name].ravel()).max() <= 1e-4 * max(1, np.abs(want[name]).max()), name
    report = out["report"]
    assert "error" not in report, report
    assert report["dims"] == {"sequence": 1, "past_sequence": 16}
    assert all("error" not in k for k in report["kernels"]), [k for k in report["kernels"] if "error" in k]
    assert any(k["used"] for k in report["kernels"]) and any(k["family"] == "matmul" for k in report["kernels"])
    for name in out["generic"]:  # checked against the generic kernels: the same outputs, at both sizes
        assert np.abs(np.asarray(out["specialised"][name]) - np.asarray(out["generic"][name])).max() <= 1e-5
        assert np.abs(np.asarray(out["again"][name]) - np.asarray(out["generic"][name])).max() <= 1e-5
        assert out["otherAfter"][name] == out["other"][name]
    assert "specialising needs a size for past_sequence" in out["missing"]
    assert out["notRun"] == "run the session first, or name the sizes: specialize({dim: size, ...})"


def test_specialise_substitutes_every_size_and_keeps_the_arguments(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = next(k for k in manifest["kernels"] if k["family"] == "matmul" and k["spec"].get("dims"))
    spec = spec_from_json(entry["spec"])
    fixed = specialise(spec, {"sequence": 1, "past_sequence": 16})
    assert fixed.dims == () and fixed.sizes == spec.sizes and fixed.args == spec.args and fixed.m == 1
    with pytest.raises(SymbolicError, match=r"sequence=0 is outside its range 1\.\.128"):
        specialise(spec, {"sequence": 0, "past_sequence": 16})


def test_specialise_for_page_refuses_in_one_sentence(bundle, tmp_path):
    fixed = tmp_path / "fixed"
    webjit.compile(export_model("bert", size="small", seq=16), dims={"batch": 1, "seq": 16},
                   options=webjit.Options(backends=("wasm",))).save(fixed)
    answer = specialise_for_page((fixed / "manifest.json").read_text(), json.dumps({"seq": 16}))
    assert answer == {"error": "this bundle has no symbolic dimensions: its kernels are specialised already"}
    assert "the manifest is not a webjit bundle's" in specialise_for_page("{}", "{}")["error"]
    answer = specialise_for_page((bundle / "manifest.json").read_text(), json.dumps({"sequence": 1}))
    assert answer == {"error": "specialising needs a size for past_sequence"}
