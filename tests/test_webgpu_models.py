"""Models end to end on WebGPU: headless Chromium (SwiftShader), forced low device limits,
the fallback to WASM without an adapter, and a WGSL compile error that names its kernel."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import onnxruntime as ort
import pytest

import webjit
from webjit.errors import RunError
from webjit.models import example_inputs, export_model
from webjit.runner import run_bundle
from webjit.webgpu.kernel import DEFAULT_LIMITS
from numerics import assert_close

TOLERANCE = 1e-4
LOW_LIMITS = dataclasses.replace(DEFAULT_LIMITS, max_invocations=64, max_workgroup_size=(64, 64, 64),
                                 max_workgroup_storage=16384, max_binding_bytes=1 << 20)


def compiled(tmp_path, name, limits=DEFAULT_LIMITS, seq=16):
    path = export_model(name, size="small", seq=seq)
    feeds = example_inputs(name, size="small", seq=seq)
    bundle = webjit.compile(path, {k: v.shape for k, v in feeds.items()}, webjit.Options().with_limits(limits))
    bundle.save(tmp_path / "bundle")
    return path, feeds, bundle


def check(path, feeds, outputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for meta, want in zip(session.get_outputs(), session.run(None, feeds)):
        assert_close(outputs[meta.name], want, TOLERANCE, meta.name)


@pytest.mark.parametrize("name", ["minilm", "bert", "vit"])
def test_model_on_webgpu_in_chromium(tmp_path, name):
    path, feeds, _ = compiled(tmp_path, name)
    result = run_bundle(tmp_path / "bundle", feeds, backend="webgpu", browser="chromium", timeout_s=600)
    assert result.backend == "webgpu", result.backend_note
    check(path, feeds, result.outputs)


def test_low_device_limits(tmp_path):
    """Compiled for 64 invocations, 16 KiB workgroup storage and 1 MiB bindings, and run on a
    device held to those limits: big tensors are split across bindings, tiles shrink."""
    path, feeds, bundle = compiled(tmp_path, "bert", LOW_LIMITS, seq=128)
    # The 15.6 MB word-embedding table cannot be bound at once: it is gathered in row ranges.
    assert sum("::rows" in step["name"] for step in bundle.manifest["steps"]) > 2
    for kernel in bundle.manifest["kernels"]:
        assert all(4 * b["count"] <= 1 << 20 for b in kernel["webgpu"]["bindings"])
        assert len(kernel["webgpu"]["bindings"]) <= 8
    limits = {"maxComputeInvocationsPerWorkgroup": 64, "maxComputeWorkgroupStorageSize": 16384,
              "maxStorageBufferBindingSize": 1 << 20}
    result = run_bundle(tmp_path / "bundle", feeds, backend="webgpu", browser="node", limits=limits, timeout_s=600)
    assert result.backend == "webgpu", result.backend_note
    check(path, feeds, result.outputs)


def test_default_bundle_is_refused_by_a_weaker_device(tmp_path):
    _, feeds, _ = compiled(tmp_path, "gpt2")
    with pytest.raises(RunError, match="maxComputeInvocationsPerWorkgroup"):
        run_bundle(tmp_path / "bundle", feeds, backend="webgpu", browser="node",
                   limits={"maxComputeInvocationsPerWorkgroup": 64})


def test_auto_without_an_adapter_runs_on_wasm_and_says_so(tmp_path):
    path, feeds, _ = compiled(tmp_path, "gpt2")
    result = run_bundle(tmp_path / "bundle", feeds, backend="auto", browser="chromium", gpu_in_browser=False)
    assert result.backend == "wasm"
    assert "WebGPU" in result.backend_note and "WASM" in result.backend_note
    check(path, feeds, result.outputs)


def test_wgsl_compile_error_names_the_kernel(tmp_path):
    _, feeds, bundle = compiled(tmp_path, "gpt2")
    manifest = bundle.manifest
    kernel = next(k for k in manifest["kernels"] if k["family"] == "matmul")
    source = tmp_path / "bundle" / kernel["webgpu"]["file"]
    broken = source.read_bytes().replace(b"fn main", b"fn main(", 1)
    source.write_bytes(broken)
    kernel["webgpu"].update(bytes=len(broken), sha256=hashlib.sha256(broken).hexdigest())
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError) as info:
        run_bundle(tmp_path / "bundle", feeds, backend="webgpu", browser="node", timeout_s=120)
    message = str(info.value)
    assert f"kernel {kernel['id']}" in message and "matmul" in message and "\n" not in message
