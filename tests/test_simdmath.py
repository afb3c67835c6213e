"""Accuracy of the f32x4 math functions against float64 numpy, run in Node through the harness."""
import math
import subprocess

import numpy as np
import pytest

from webjit.wasm import simdmath
from webjit.wasm.encoder import I32, Module
from wasm_harness import run_wasm


def math_kernel(name: str) -> bytes:
    """run(x, y, out, n_ptr, tid, nthreads): out = name(x[, y]) four lanes at a time."""
    module = Module()
    fn = module.func("run", [I32] * 6)
    x, y, out, n_ptr, tid, nthreads = range(6)
    addr, end = fn.local(I32), fn.local(I32)
    index = simdmath.get(module, name)
    fn.op("local.get", n_ptr)
    fn.op("i32.load")
    fn.op("i32.const", 4)
    fn.op("i32.mul")
    fn.op("local.set", end)
    fn.op("local.get", tid)
    fn.op("i32.const", 16)
    fn.op("i32.mul")
    fn.op("local.set", addr)
    fn.op("block")
    fn.op("loop")
    fn.op("local.get", addr)
    fn.op("local.get", end)
    fn.op("i32.ge_u")
    fn.op("br_if", 1)
    fn.op("local.get", out)
    fn.op("local.get", addr)
    fn.op("i32.add")
    for src in ((x, y) if name == "pow" else (x,)):
        fn.op("local.get", src)
        fn.op("local.get", addr)
        fn.op("i32.add")
        fn.op("v128.load")
    fn.op("call", index)
    fn.op("v128.store")
    fn.op("local.get", addr)
    fn.op("local.get", nthreads)
    fn.op("i32.const", 16)
    fn.op("i32.mul")
    fn.op("i32.add")
    fn.op("local.set", addr)
    fn.op("br", 0)
    fn.op("end")
    fn.op("end")
    return module.encode()


def evaluate(name: str, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    x = np.asarray(x, np.float32).ravel()
    n = (len(x) + 3) // 4 * 4
    pad = lambda a: np.concatenate([a, np.ones(n - len(a), np.float32)])
    y = pad(np.asarray(y, np.float32).ravel()) if y is not None else np.zeros(n, np.float32)
    out, = run_wasm(math_kernel(name), [pad(x), y, np.zeros(n, np.float32),
                                        np.array([n], np.int32)], [2], nthreads=2)
    return out[:len(x)]


def sweep(low: float, high: float, count: int = 400_000) -> np.ndarray:
    return np.linspace(low, high, count, dtype=np.float32)


def max_rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got.astype(np.float64) - want) / np.abs(want)))


def max_abs(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got.astype(np.float64) - want)))


SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-30, -1e-30,
                     3.4e38, -3.4e38], np.float32)


def test_exp_accuracy():
    x = np.concatenate([sweep(-87, 88), np.float32(np.random.default_rng(0).uniform(-1, 1, 100_000))])
    assert max_rel(evaluate("exp", x), np.exp(x.astype(np.float64))) <= 2e-7


def test_exp_edges():
    got = evaluate("exp", np.array([0, -0.0, np.inf, -np.inf, np.nan, 89, 88.8, -104, -200,
                                    1e-30, -88.5, -100], np.float32))
    assert got[:2].tolist() == [1, 1]
    assert got[2] == np.inf and got[3] == 0 and np.isnan(got[4])
    assert got[5] == np.inf and got[6] == np.inf and got[7] == 0 and got[8] == 0
    assert got[9] == 1
    # subnormal results keep a sensible value rather than flushing to zero
    np.testing.assert_array_max_ulp(got[10:], np.float32(np.exp([-88.5, -100])), maxulp=1)


def test_log_accuracy():
    rng = np.random.default_rng(1)
    x = np.concatenate([sweep(1e-6, 10), sweep(0.5, 2),
                        np.float32(2.0 ** rng.uniform(-126, 127.9, 300_000)),
                        np.array([1.17549435e-38, 3.4028235e38, 1.0, np.nextafter(1, 2, dtype=np.float32),
                                  np.nextafter(1, 0, dtype=np.float32)], np.float32)])
    want = np.log(x.astype(np.float64))
    got = evaluate("log", x)
    nonzero = want != 0
    assert max_rel(got[nonzero], want[nonzero]) <= 3e-7
    assert np.all(got[~nonzero] == 0)


def test_log_edges():
    got = evaluate("log", np.array([0, -0.0, -1, -np.inf, np.nan, np.inf, 1e-45, 1e-40], np.float32))
    assert got[0] == -np.inf and got[1] == -np.inf
    assert np.all(np.isnan(got[2:5])) and got[5] == np.inf
    np.testing.assert_allclose(got[6:], np.log([1.401298464324817e-45, 1e-40]), rtol=1e-6)


def test_erf_accuracy_and_symmetry():
    x = np.concatenate([sweep(-6, 6), sweep(-1e-3, 1e-3, 20_000), SPECIALS[SPECIALS == SPECIALS]])
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    got = evaluate("erf", x)
    assert max_abs(got, want) <= 1e-6
    np.testing.assert_array_equal(evaluate("erf", -x), -got)
    assert np.isnan(evaluate("erf", np.array([np.nan], np.float32))[0])
    tiny = x[(np.abs(x) < 1e-3) & (np.abs(x) > 1e-30)]
    assert max_rel(evaluate("erf", tiny), [math.erf(v) for v in tiny.astype(np.float64)]) < 1e-6


def test_tanh_accuracy():
    x = np.concatenate([sweep(-20, 20), sweep(-1, 1), SPECIALS[SPECIALS == SPECIALS]])
    got = evaluate("tanh", x)
    assert max_abs(got, np.tanh(x.astype(np.float64))) <= 1e-6
    np.testing.assert_array_equal(evaluate("tanh", -x), -got)
    small = sweep(1e-6, 1e-2, 10_000)
    assert max_rel(evaluate("tanh", small), np.tanh(small.astype(np.float64))) < 1e-6
    assert np.isnan(evaluate("tanh", np.array([np.nan], np.float32))[0])


def test_sigmoid_accuracy():
    x = np.concatenate([sweep(-69, 40), SPECIALS[SPECIALS == SPECIALS]])
    with np.errstate(over="ignore"):
        want = 1 / (1 + np.exp(-x.astype(np.float64)))
    got = evaluate("sigmoid", x)
    keep = want > 1e-30
    assert max_rel(got[keep], want[keep]) <= 1e-6
    assert np.all(got[~keep] <= 1e-30)
    assert evaluate("sigmoid", np.array([np.inf, -np.inf], np.float32)).tolist() == [1, 0]


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_accuracy(name):
    x = np.concatenate([sweep(-100, 100), np.float32(np.arange(-64, 65) * np.pi / 2),
                        np.array([0, -0.0], np.float32)])
    got = evaluate(name, x)
    assert max_abs(got, getattr(np, name)(x.astype(np.float64))) <= 1e-6
    assert np.all(np.isnan(evaluate(name, np.array([np.inf, -np.inf, np.nan], np.float32))))


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_of_large_arguments(name):
    """The reduction by pi/2 is exact for every float32, up to 3.4e38 (not only small |x|)."""
    rng = np.random.default_rng(4)
    x = np.float32(np.concatenate([np.exp(rng.uniform(0, 88, 20_000)), -np.exp(rng.uniform(0, 88, 2_000)),
                                   [1e6, -3e6, 3e9, 16777216, 1e20, np.finfo(np.float32).max, 102940.0]]))
    got = evaluate(name, x)
    assert max_abs(got, getattr(np, name)(x.astype(np.float64))) <= 1e-6


def test_pow_positive_base():
    rng = np.random.default_rng(2)
    x = np.float32(np.exp(rng.uniform(-10, 10, 200_000)))
    y = np.float32(rng.uniform(-4, 4, 200_000))
    want = np.power(x.astype(np.float64), y.astype(np.float64))
    # exp(y log x) carries log's rounding times |y log x|: allow a few ulps per unit of it
    tolerance = 3e-7 * (1 + np.abs(y.astype(np.float64) * np.log(x.astype(np.float64))))
    rel = np.abs(evaluate("pow", x, y) - want) / want
    assert np.all(rel <= tolerance)


def test_pow_special_cases():
    cases = [(0, 2), (0, -1), (0, 0), (-0.0, 3), (-0.0, -3), (-2, 3), (-2, 2), (-2, -1), (-2, 0.5),
             (-8, 1 / 3), (2, 0), (np.nan, 0), (1, np.nan), (1, np.inf), (-1, 3), (3, 2),
             (-3, 16777216.0), (-np.inf, 3), (-np.inf, 2), (-np.inf, 0.5), (-np.inf, -0.25), (2, np.nan),
             (np.nan, 1), (4, 0.5)]
    x, y = (np.array(c, np.float32) for c in zip(*cases))
    got = evaluate("pow", x, y)
    with np.errstate(all="ignore"):
        want = np.power(x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-6)
    number = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]))


def test_each_function_added_once_and_module_validates(tmp_path):
    module = Module()
    first = [simdmath.get(module, n) for n in simdmath.NAMES]
    again = [simdmath.get(module, n) for n in simdmath.NAMES]
    assert first == again
    assert len(module.funcs) == len(simdmath.NAMES)
    assert all(f.name is None for f in module.funcs)
    path = tmp_path / "math.wasm"
    path.write_bytes(module.encode())
    proc = subprocess.run(["wasm-validate", "--enable-threads", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(ValueError, match="cbrt"):
        simdmath.get(module, "cbrt")


def test_atan_accuracy_and_edges():
    rng = np.random.default_rng(7)
    x = np.concatenate([sweep(-30, 30), sweep(-1, 1), np.float32(2.0 ** rng.uniform(-126, 127.9, 100_000)),
                        np.float32([0.41421356, 0.41421357, 2.4142134, 2.4142137, 3.4e38])])
    got = evaluate("atan", x)
    want = np.arctan(x.astype(np.float64))
    assert max_rel(got[want != 0], want[want != 0]) <= 3e-7
    np.testing.assert_array_equal(evaluate("atan", -x), -got)
    edges = evaluate("atan", np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45], np.float32))
    assert edges[0] == 0 and np.signbit(edges[1]) and edges[2] == np.float32(np.pi / 2) and edges[3] == -edges[2]
    assert np.isnan(edges[4]) and edges[5] == np.float32(1e-45)
