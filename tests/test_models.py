"""The test models end to end: export (cached), compile, run on WASM, compare with onnxruntime.

Per commit: small variants of all five models from both exporters at opsets 17 and 18, in
Node, and one in headless Chromium. Marked slow: the five full-size models in Chromium.
"""
from __future__ import annotations

import subprocess

import numpy as np
import onnxruntime as ort
import pytest

import webjit
from webjit.models import EXPORTERS, MODEL_NAMES, OPSETS, example_inputs, export_model
from webjit.runner import run_bundle
from numerics import assert_close

TOLERANCE = 1e-4  # max abs error relative to the output's largest magnitude


def compile_and_check(tmp_path, name, *, exporter="legacy", opset=17, size="small", seq=16, browser="node",
                      threads=2, isolated=True):
    path = export_model(name, exporter=exporter, opset=opset, size=size, seq=seq)
    feeds = example_inputs(name, size=size, seq=seq)
    bundle = webjit.compile(path, {k: v.shape for k, v in feeds.items()})
    bundle.save(tmp_path / "bundle")
    kernels = [str(tmp_path / "bundle" / k["wasm"]["file"]) for k in bundle.manifest["kernels"]]
    for kernel in kernels:  # wasm-validate reads one module per call
        check = subprocess.run(["wasm-validate", "--enable-threads", kernel], capture_output=True, text=True)
        assert check.returncode == 0, f"{kernel}: {check.stderr}"
    result = run_bundle(tmp_path / "bundle", feeds, backend="wasm", browser=browser, threads=threads,
                        isolated=isolated)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    assert set(result.outputs) == set(expected)
    for out, want in expected.items():
        got = result.outputs[out]
        assert_close(got, want, TOLERANCE, f"{name} {exporter} opset {opset}: {out}")
    return result


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_small_model_on_wasm_in_node(tmp_path, name, exporter, opset):
    compile_and_check(tmp_path, name, exporter=exporter, opset=opset)


def test_threaded_and_single_threaded_runs_agree(tmp_path):
    single = compile_and_check(tmp_path / "one", "gpt2", threads=1)
    threaded = compile_and_check(tmp_path / "two", "gpt2", threads=2)
    assert threaded.threads == 2 and single.threads == 1
    for name, value in single.outputs.items():
        np.testing.assert_array_equal(threaded.outputs[name], value)


def test_small_bert_in_chromium_uses_threads(tmp_path):
    result = compile_and_check(tmp_path, "bert", browser="chromium", threads="auto")
    assert result.backend == "wasm"
    assert result.threads >= 2, result.thread_note  # the served page is cross-origin isolated


def test_page_without_cross_origin_isolation_runs_single_threaded_and_says_so(tmp_path):
    result = compile_and_check(tmp_path, "bert", browser="chromium", threads="auto", isolated=False)
    assert result.threads == 1
    assert "cross-origin isolation" in result.thread_note


@pytest.mark.slow
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_full_model_in_chromium(tmp_path, name):
    """Batch 1, sequence 128 or 224x224 images, real MiniLM weights; legacy exporter, opset 17."""
    compile_and_check(tmp_path, name, size="full", seq=128, browser="chromium", threads="auto")
