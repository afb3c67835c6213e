"""Every op case of tests/op_cases.py, compiled by webjit and run on the WASM backend in
Node, against onnxruntime.

All bundles are compiled once per session and run by one Node process
(tests/run_bundles.mjs), which keeps the file fast; each case is still its own test.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from webjit.feeds import make_inputs
from webjit.ops import OPS
from webjit.runner import load_manifest, run_bundle

from onnx_builders import check_close
from op_cases import CASES, FOLD_ONLY_OPS, REFERENCE_ONLY_OPS, THREADS_CASES
from op_runner import CASES_BY_NAME, Prepared, outputs_of, prepare, run_all

@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict[str, Prepared]:
    root = tmp_path_factory.mktemp("ops_wasm")
    items = [prepare(case, root) for case in CASES_BY_NAME.values()]
    run_all(items, root)
    return {item.case["name"]: item for item in items}


@pytest.mark.parametrize("name", list(CASES_BY_NAME))
def test_op_case(suite, name):
    item = suite[name]
    outputs = outputs_of(item, 1)
    for out in item.case["outputs"]:
        check_close(f"{name}/{out}", outputs[out], item.reference[out])


@pytest.mark.parametrize("name", THREADS_CASES)
def test_two_threads_match_one(suite, name):
    item = suite[name]
    one, two = outputs_of(item, 1), outputs_of(item, 2)
    assert item.threads_used.get(2) == 2, f"{name}: the runtime ran {item.threads_used.get(2)} thread(s), not 2"
    for out in item.case["outputs"]:
        assert np.array_equal(one[out], two[out], equal_nan=True), f"{name}/{out}: 2 threads differ from 1"
        check_close(f"{name}/{out} (2 threads)", two[out], item.reference[out])


def test_run_bundle_scalar_input(suite):
    """run_bundle's input checks keep a 0-d input 0-d."""
    item = suite["Sum_three_broadcast"]
    outputs_of(item, 1)
    assert make_inputs(load_manifest(item.bundle_dir), item.feeds)["c"].shape == ()
    result = run_bundle(item.bundle_dir, item.feeds, backend="wasm", browser="node", threads=1)
    check_close("Sum_three_broadcast via run_bundle", result.outputs["y"], item.reference["y"])


def test_run_bundle_two_threads(suite):
    """The public runner path (webjit-run-node.mjs) with two threads, on one representative case."""
    item = suite["Conv_groups2"]
    outputs_of(item, 1)
    result = run_bundle(item.bundle_dir, item.feeds, backend="wasm", browser="node", threads=2)
    assert result.threads == 2
    check_close("Conv_groups2 via run_bundle", result.outputs["y"], item.reference["y"])


def test_every_kernel_validates(suite):
    files = sorted(p for item in suite.values() if item.bundle_dir for p in (item.bundle_dir / "kernels").glob("*.wasm"))
    assert files, "no kernel was compiled"
    relaxed = set()  # forms that require relaxed SIMD validate with it; every other form without
    for item in suite.values():
        if item.bundle_dir:
            manifest = json.loads((item.bundle_dir / "manifest.json").read_text())
            relaxed |= {item.bundle_dir / f["file"] for k in manifest["kernels"] for f in [k["wasm"], *k["wasm"]["variants"]]
                        if "relaxed-simd" in f["requires"]}
    failures = []
    for path in files:
        flags = ["--enable-threads"] + (["--enable-relaxed-simd"] if path in relaxed else [])
        done = subprocess.run(["wasm-validate", *flags, str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            failures.append(f"{path.parent.parent.parent.name}/{path.name}: {done.stderr.strip()[:300]}")
    assert not failures, "kernels failing wasm-validate:\n" + "\n".join(failures)


def test_cases_cover_every_op():
    covered = {node["op"] for case in CASES for node in case["nodes"]}
    missing = set(OPS) - covered - set(FOLD_ONLY_OPS) - set(REFERENCE_ONLY_OPS)
    assert not missing, f"ops of webjit.ops.OPS with no case: {sorted(missing)}"


def test_cases_are_plain_data():
    """Lists, dicts, strings and numbers only: a JSON round trip gives the cases back as they are
    (a tuple, a numpy array or scalar would come back different or fail to encode)."""
    assert json.loads(json.dumps(CASES)) == CASES
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert set(THREADS_CASES) <= set(names)
