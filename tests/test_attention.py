"""Fused attention (compiler/webjit/attention.py): which chains the match takes and which it
leaves, the op cases of tests/attention_cases.py on WASM and WebGPU in Node against
onnxruntime, and that the small MiniLM bundle runs the attention kernel."""
from __future__ import annotations

import pytest

import webjit
from webjit.attention import attention_text, find_attention
from webjit.frontend import import_onnx
from webjit.models import example_inputs, export_model
from webjit.passes import run_passes
from webjit.runner import load_manifest

from attention_cases import FUSED, attention_cases
from onnx_builders import build_model, check_close, input_values, model_shapes
from op_runner import outputs_of, prepare, run_all

CASES = {case["name"]: case for case in attention_cases()}
FUSE = webjit.Options(fuse_attention=True)  # asked for: not the default (docs/performance.md)


def families(manifest: dict) -> set[str]:
    return {kernel["family"] for kernel in manifest["kernels"]}


def graph_of(case):
    _, constants = input_values(case)
    return run_passes(import_onnx(build_model(case, constants), model_shapes(case)))


@pytest.mark.parametrize("name", list(CASES))
def test_the_match_takes_exactly_the_exported_chains(name):
    matches = find_attention(graph_of(CASES[name]))
    assert len(matches) == int(FUSED[name]), attention_text(matches)
    if matches:
        assert matches[0].nodes[0] == "scores" and matches[0].nodes[-1] == "probs"


def test_the_decision_prints():
    text = attention_text(find_attention(graph_of(CASES["Attention_fused_causal_where"])))
    assert text.startswith("attention context = softmax(qh @ kh * ") and "where(causal, s, " in text


@pytest.fixture(scope="module", params=["wasm", "webgpu"])
def suite(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"attention_{request.param}")
    items = [prepare(case, root, FUSE) for case in CASES.values()]
    run_all(items, root, backend=request.param, thread_counts=(1,))  # threads: tests/test_kernels_wasm.py
    return request.param, {item.case["name"]: item for item in items}


@pytest.mark.parametrize("name", list(CASES))
def test_case_against_onnxruntime(suite, name):
    backend, items = suite
    item = items[name]
    outputs = outputs_of(item, 1)
    for out in item.case["outputs"]:
        check_close(f"{name}/{out}", outputs[out], item.reference[out])
    assert ("attention" in families(load_manifest(item.bundle_dir))) == FUSED[name]


def test_small_minilm_runs_the_attention_kernel():
    path = export_model("minilm", size="small", seq=16)
    feeds = example_inputs("minilm", size="small", seq=16)
    bundle = webjit.compile(path, {k: v.shape for k, v in feeds.items()}, FUSE)
    assert "attention" in families(bundle.manifest) and "softmax" not in families(bundle.manifest)
    plain = webjit.compile(path, {k: v.shape for k, v in feeds.items()})
    assert "attention" not in families(plain.manifest) and "softmax" in families(plain.manifest)


def test_fusion_is_asked_for():
    case = CASES["Attention_fused_bert_mask_12_heads"]
    _, constants = input_values(case)
    model = build_model(case, constants)
    on = webjit.compile(model, model_shapes(case), FUSE)
    off = webjit.compile(model, model_shapes(case))
    assert "attention" in families(on.manifest)
    assert "attention" not in families(off.manifest) and "softmax" in families(off.manifest)
