"""WASM Reduce, Softmax and LayerNorm kernels, run in Node against numpy float64."""

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, LayerNorm, Reduce, Softmax
from wasm_harness import default_module, run_both


ROW_LENGTHS = [1, 3, 4, 7, 384, 1000]
OUTER = 5


def logsumexp(x):
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


REDUCE_REF = {
    "sum": lambda x: x.sum(1), "mean": lambda x: x.mean(1), "max": lambda x: x.max(1),
    "min": lambda x: x.min(1), "prod": lambda x: x.prod(1), "sumsq": lambda x: (x * x).sum(1),
    "l1": lambda x: np.abs(x).sum(1), "l2": lambda x: np.sqrt((x * x).sum(1)), "logsumexp": logsumexp,
}


def reduce_input(kind, r, seed):
    rng = np.random.default_rng(seed)
    if kind == "prod":  # factors near 1 keep long products finite
        signs = rng.choice([-1, 1], (OUTER, r))
        return (rng.uniform(0.995, 1.005, size=(OUTER, r)) * signs).astype(np.float32)
    return rng.uniform(-3, 3, size=(OUTER, r)).astype(np.float32)


@pytest.mark.parametrize("r", ROW_LENGTHS)
@pytest.mark.parametrize("kind", sorted(REDUCE_REF))
def test_reduce_f32(kind, r, tmp_path):
    x = reduce_input(kind, r, seed=r)
    spec = Reduce(kind, OUTER, r, (Arg("f32", x.size), Arg("f32", OUTER, output=True)))
    got = run_both(tmp_path, default_module(spec), [x, np.full(OUTER, -9, np.float32)], 1)
    x64 = x.astype(np.float64)
    # sums of mixed signs cancel: scale the tolerance by the sum of magnitudes
    scale = np.abs(x64).sum(1) / max(r, 1) if kind in ("sum", "mean") else 0
    atol = 1e-6 + 1e-6 * np.max(scale, initial=0)
    np.testing.assert_allclose(got, REDUCE_REF[kind](x64), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("kind", ["sum", "max", "min", "prod"])
def test_reduce_i32(kind, tmp_path):
    r = 7
    rng = np.random.default_rng(1)
    x = rng.integers(-4, 5, size=(OUTER, r)).astype(np.int32)
    spec = Reduce(kind, OUTER, r, (Arg("i32", x.size), Arg("i32", OUTER, output=True)))
    got = run_both(tmp_path, default_module(spec), [x, np.zeros(OUTER, np.int32)], 1)
    np.testing.assert_array_equal(got, REDUCE_REF[kind](x.astype(np.int64)).astype(np.int32))


def test_reduce_refuses_i32_l2():
    with pytest.raises(CompileError):
        default_module(Reduce("l2", 2, 3, (Arg("i32", 6), Arg("i32", 2, output=True))))


def test_logsumexp_of_infinite_rows(tmp_path):
    x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, -np.inf, 2.0], [np.inf, 0.0, 1.0]], np.float32)
    spec = Reduce("logsumexp", 3, 3, (Arg("f32", 9), Arg("f32", 3, output=True)))
    got = run_both(tmp_path, default_module(spec), [x, np.zeros(3, np.float32)], 1)
    np.testing.assert_allclose(got, [-np.inf, np.log(np.e + np.e ** 2), np.inf], rtol=1e-6)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("r", ROW_LENGTHS)
@pytest.mark.parametrize("log", [False, True])
def test_softmax(log, r, tmp_path):
    x = np.random.default_rng(r).uniform(-8, 8, size=(OUTER, r)).astype(np.float32)
    spec = Softmax(OUTER, r, log, (Arg("f32", x.size), Arg("f32", x.size, output=True)))
    got = run_both(tmp_path, default_module(spec), [x, np.zeros_like(x)], 1)
    ref = softmax(x.astype(np.float64))
    if log:
        np.testing.assert_allclose(got, np.log(ref), rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_softmax_masked_rows(tmp_path):
    # attention masks put -inf (or huge negatives) in some positions
    x = np.random.default_rng(2).uniform(-2, 2, size=(3, 9)).astype(np.float32)
    x[0, 4:] = -np.inf
    x[1, :] = -3.4e38
    x[2, ::2] = -1e9
    spec = Softmax(3, 9, False, (Arg("f32", x.size), Arg("f32", x.size, output=True)))
    got = run_both(tmp_path, default_module(spec), [x, np.zeros_like(x)], 1)
    np.testing.assert_allclose(got, softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-7)


def layernorm(x, scale, bias, eps):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


@pytest.mark.parametrize("r", ROW_LENGTHS)
@pytest.mark.parametrize("has_bias", [True, False])
def test_layernorm(has_bias, r, tmp_path):
    rng = np.random.default_rng(r)
    x = rng.standard_normal((OUTER, r)).astype(np.float32)
    x[1] += 1000.0  # a large mean: the two-pass variance must stay accurate
    scale = rng.uniform(0.5, 2.0, size=r).astype(np.float32)
    bias = rng.standard_normal(r).astype(np.float32)
    args = [x, scale] + ([bias] if has_bias else []) + [np.zeros_like(x)]
    spec = LayerNorm(OUTER, r, 1e-5, has_bias, tuple(Arg("f32", a.size, output=(i == len(args) - 1))
                                                    for i, a in enumerate(args)))
    got = run_both(tmp_path, default_module(spec), args, len(args) - 1)
    ref = layernorm(x.astype(np.float64), scale, bias if has_bias else 0.0, 1e-5)
    normal = [0, 2, 3, 4]
    np.testing.assert_allclose(got[normal], ref[normal], rtol=1e-5, atol=1e-5)
    # Row 1's f32 mean near 1000 is off by ~1e-4; a one-pass E[x^2] - E[x]^2 would be off by ~0.1.
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=1e-3)
