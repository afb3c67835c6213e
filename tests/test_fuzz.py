"""The differential fuzzer (webjit fuzz): a fixed-seed run, the regression cases its findings
became (tests/fuzz_cases), and the judge, minimiser and hang detection it relies on."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from webjit.fuzz import BAD, Checker, NodeRunner, Verdict, compare, load_case, minimise, ort_run, run_fuzz
from webjit.fuzz_gen import random_graph

CASES = Path(__file__).with_name("fuzz_cases")
FIXED = sorted(p for p in CASES.iterdir() if (p / "finding.json").is_file())
OPEN = sorted(p for p in (CASES / "open").iterdir() if (p / "finding.json").is_file()) \
    if (CASES / "open").is_dir() else []


@pytest.fixture(scope="module")
def checkers():
    made = {}
    yield lambda backend: made.setdefault(backend, Checker(backend))
    for checker in made.values():
        checker.close()


def test_a_fixed_seed_run_finds_nothing(tmp_path):
    report = run_fuzz(300, seed=1, backend="wasm", jobs=1, cases_dir=str(tmp_path))
    assert report.bad == 0, report.summary()
    assert report.outcomes.get("ok", 0) >= 295, report.summary()  # refusals stay rare
    assert len(report.ops) >= 60  # the generator reaches most of the op set


def test_a_fixed_seed_run_on_webgpu_finds_nothing(tmp_path):
    report = run_fuzz(40, seed=3, backend="webgpu", jobs=1, cases_dir=str(tmp_path))
    assert report.bad == 0, report.summary()


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
@pytest.mark.parametrize("case", FIXED, ids=[p.name for p in FIXED])
def test_regression_case(case, backend, checkers):
    model, feeds, info = load_case(case)
    verdict = checkers(backend).check(model, feeds, info.get("threads", 1))
    if backend in info.get("open_on", ()):  # fixed on the other backend only (docs/reliability.md)
        if verdict.outcome in ("ok", "refused"):
            pytest.fail(f"{case.name} passes on {backend} now: drop open_on from its finding.json")
        pytest.xfail(f"open on {backend}: {verdict.message[:200]}")
    assert verdict.outcome in ("ok", "refused"), f"{case.name} ({info['outcome']} when found): {verdict.message}"
    if verdict.outcome == "refused":
        assert "\n" not in verdict.message and "internal" not in verdict.message


@pytest.mark.parametrize("case", OPEN, ids=[p.name for p in OPEN])
def test_open_finding_still_fails(case, checkers):
    """Known findings not fixed yet (docs/reliability.md): when one starts passing, move it
    up to tests/fuzz_cases so that it stays fixed."""
    model, feeds, info = load_case(case)
    verdict = checkers(info.get("backend", "wasm")).check(model, feeds, info.get("threads", 1))
    if verdict.outcome in ("ok", "refused"):
        pytest.fail(f"{case.name} passes now: move it to tests/fuzz_cases")
    pytest.xfail(f"open: {verdict.message[:200]}")


def test_graphs_are_deterministic():
    a, fa = random_graph(5, 17)
    b, fb = random_graph(5, 17)
    assert a.SerializeToString() == b.SerializeToString()
    assert all(np.array_equal(fa[k], fb[k], equal_nan=True) for k in fa)


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=9)


def test_the_judge_flags_a_wrong_value_and_forgives_rounding():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    model = _model([helper.make_node("Exp", ["x"], ["y"])], [x], [y])
    feeds = {"x": np.array([0, 1, 2, np.nan], np.float32)}
    want = {"y": np.exp(feeds["x"])}
    assert compare(model, feeds, {"y": want["y"] * (1 + 1e-6)}, want).outcome == "ok"
    wrong = want["y"].copy()
    wrong[1] += 0.01
    verdict = compare(model, feeds, {"y": wrong}, want)
    assert verdict.outcome == "wrong" and "'y'[1]" in verdict.message
    nan_lost = want["y"].copy()
    nan_lost[3] = 0.0
    assert compare(model, feeds, {"y": nan_lost}, want).outcome == "wrong"
    assert compare(model, feeds, {"y": want["y"][:3]}, want).outcome == "wrong"


def test_the_minimiser_keeps_only_what_fails():
    """Eight nodes, one of them a Sin the fake checker calls wrong: one node is left."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])
    nodes, last = [], "x"
    for i, op in enumerate(["Abs", "Neg", "Exp", "Sin", "Relu", "Tanh", "Neg", "Abs"]):
        nodes.append(helper.make_node(op, [last], [f"t{i}"]))
        last = f"t{i}"
    model = _model(nodes, [x], [helper.make_tensor_value_info(last, TensorProto.FLOAT, [3])])
    feeds = {"x": np.array([0.5, -1, 2], np.float32)}

    def check(m, f):
        return Verdict("wrong" if any(n.op_type == "Sin" for n in m.graph.node) else "ok")

    small, small_feeds = minimise(model, feeds, Verdict("wrong"), check)
    assert [n.op_type for n in small.graph.node] == ["Sin"]
    onnx.checker.check_model(small)
    assert list(small_feeds) == [small.graph.node[0].input[0]]


def test_a_run_that_never_answers_is_a_hang(tmp_path):
    runner = NodeRunner("wasm")
    runner.script = tmp_path / "silent.mjs"
    runner.script.write_text("setInterval(() => {}, 1000);\n")
    try:
        with pytest.raises(TimeoutError):
            runner.run(tmp_path, tmp_path, tmp_path, 1, timeout_s=1.0)
        assert runner.process is None  # killed; the next job starts a fresh one
    finally:
        runner.stop()


def test_the_command_prints_a_summary_and_writes_a_report(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "webjit", "fuzz", "--count", "6", "--seed", "2", "--cases",
                           str(tmp_path / "cases"), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "webjit fuzz: 6 graphs (seed 2, wasm)" in done.stdout
    report = json.loads(out.read_text())
    assert sum(report["outcomes"].values()) == 6 and not set(report["outcomes"]) & set(BAD)


def _unary_graph(ops, values, attrs=None, out_type=TensorProto.FLOAT):
    """x -> ops[0] -> ops[1] ... as a model with its feed."""
    values = np.asarray(values, np.float32)
    nodes, last = [], "x"
    for i, op in enumerate(ops):
        nodes.append(helper.make_node(op, [last], [f"t{i}"], **(attrs or {}).get(op, {})))
        last = f"t{i}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(values.shape))
    probe = _model(nodes, [x], [helper.make_tensor_value_info(last, out_type, None)])
    shape = ort_run(probe, {"x": values})[last].shape
    return _model(nodes, [x], [helper.make_tensor_value_info(last, out_type, list(shape))]), {"x": values}


LARGE = [1e6, -3e6, 3e9, 1e20, 102940.0, 3.4e38, 0.5, -7, 4096, -4095.9, 6434.0, 16777216.0] + \
    list(np.float32(np.exp(np.random.default_rng(8).uniform(0, 88, 52)) * np.resize([1, -1], 52)))
EDGES = {  # the numerics classes issue 10 lists, each against onnxruntime
    "softplus_underflow": (["Softplus", "Log"], [-17, -30, -60, -1e-3, 0, 5, 40, 100], None, TensorProto.FLOAT),
    "sin_large": (["Sin"], LARGE, None, TensorProto.FLOAT),
    "cos_large": (["Cos"], LARGE, None, TensorProto.FLOAT),
    "softmax_inf": (["Softmax"], [[1, np.inf, 2, 3], [1, 2, 3, 4], [-np.inf] * 4, [np.nan, 1, 2, 3]],
                    {"Softmax": {"axis": -1}}, TensorProto.FLOAT),
    "layernorm_large_mean": (["LayerNormalization"], [[1e4 + 0.001 * i for i in range(64)]], None, TensorProto.FLOAT),
    "argmax_nan": (["ArgMax"], [[1, np.nan, 3, 2], [np.nan] * 4, [5, 1, 7, np.nan]],
                   {"ArgMax": {"axis": 1, "keepdims": 0}}, TensorProto.INT64),
}
OPEN_EDGES: set = set()  # (name, backend) pairs known to fail, run as strict xfails


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
@pytest.mark.parametrize("name", sorted(EDGES))
def test_numerics_at_the_edges(name, backend, checkers):
    ops, values, attrs, out_type = EDGES[name]
    if name == "layernorm_large_mean":
        values = np.asarray(values, np.float32)
        model, feeds = _unary_graph([], values)
        scale = onnx.numpy_helper.from_array(np.ones(64, np.float32), "scale")
        model = _model([helper.make_node("LayerNormalization", ["x", "scale"], ["y"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [scale])
    else:
        model, feeds = _unary_graph(ops, values, attrs, out_type)
    verdict = checkers(backend).check(model, feeds)
    if (name, backend) in OPEN_EDGES:
        if verdict.outcome == "ok":
            pytest.fail(f"{name} passes on {backend} now: drop it from OPEN_EDGES")
        pytest.xfail(f"open: {verdict.message[:200]}")
    assert verdict.outcome == "ok", verdict.message


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Cast"])
def test_int64_beyond_int32_stops_instead_of_wrapping(op, backend, checkers):
    """int64 model values are held in i32: a result outside that range stops the run in one
    sentence (WASM traps and names the step; WebGPU kernels set a status word the runtime
    reads back with the outputs); in range, the answers are exact."""
    big = {"Add": (2**31 - 1, 1), "Sub": (-2**31, 1), "Mul": (70000, 70000)}.get(op)
    if op == "Cast":
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
        model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64)], [x],
                       [helper.make_tensor_value_info("y", TensorProto.INT64, [4])])
        fits, beyond = ({"x": np.array(v, np.float32)} for v in ([1e9, -2e9, 7.9, -0.5], [1, 3e9, 2, 3]))
    else:
        ins = [helper.make_tensor_value_info(n, TensorProto.INT64, [4]) for n in "ab"]
        model = _model([helper.make_node(op, ["a", "b"], ["y"])], ins,
                       [helper.make_tensor_value_info("y", TensorProto.INT64, [4])])
        fits = {"a": np.array([5, -7, 40000, 2**30], np.int64), "b": np.array([3, 9, -40000, 1], np.int64)}
        beyond = {"a": np.full(4, big[0], np.int64), "b": np.full(4, big[1], np.int64)}
    checker = checkers(backend)
    assert checker.check(model, fits).outcome == "ok"
    verdict = checker.check(model, beyond, threads=2)
    assert verdict.outcome == "refused" and "computed an int64 value outside the int32 range" in verdict.message
    assert checker.check(model, fits).outcome == "ok"  # WebGPU clears the status word before each run


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_int64_left_shift_beyond_int32_stops(backend, checkers):
    """x << s on int64 values held in i32: exact where the 64-bit result fits (shifts of 32 to 63
    only for 0, 64 and more or negative give 0), a clear stop where it does not."""
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, [4]) for n in "ab"]
    graph = helper.make_graph([helper.make_node("BitShift", ["a", "b"], ["y"], direction="LEFT")], "t", ins,
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 28)], ir_version=10)
    fits = {"a": np.array([5, -1, 0, 7], np.int64), "b": np.array([3, 31, 40, -2], np.int64)}
    checker = checkers(backend)
    assert checker.check(model, fits).outcome == "ok"
    for a, b in ((1, 31), (3, 32), (-3, 30)):
        verdict = checker.check(model, {"a": np.full(4, a, np.int64), "b": np.full(4, b, np.int64)})
        assert verdict.outcome == "refused" and "computed an int64 value outside the int32 range" in verdict.message
