"""purenp (the compiler's numpy in the page) against numpy: the same values, dtypes and shapes
for the operations the compiler uses, on cases that catch the usual slips (type promotion,
float32 and float16 rounding, integer wrap-around, broadcasting, views, empty arrays). The
whole compiler is checked the other way too: test_browser_path compiles every suite model
with purenp and compares the bundles byte for byte."""
from __future__ import annotations

import math

import numpy as np
import pytest

import webjit.purenp as pn


def same(got, want) -> None:
    """got (purenp) equals want (numpy) in dtype, shape and every value (NaN equal to NaN)."""
    want = np.asarray(want)
    assert isinstance(got, pn.ndarray), type(got)
    assert str(got.dtype) == str(want.dtype), (got.dtype, want.dtype)
    assert got.shape == want.shape
    assert got.tobytes() == want.tobytes() or np.array_equal(np.frombuffer(got.tobytes(), want.dtype), want.ravel(),
                                                             equal_nan=True)


def both(fn, *values):
    """fn applied to numpy's and purenp's copies of values (lists with dtypes)."""
    return fn(pn, *(pn.asarray(v, d) for v, d in values)), fn(np, *(np.asarray(v, d) for v, d in values))


CASES = {
    "float32 add rounds": (lambda m, a, b: a + b, ([0.1, 1e8, -3.5], "float32"), ([0.2, 1.0, 1e-9], "float32")),
    "int64 + float32 is float64": (lambda m, a, b: a * b, ([3, -7], "int64"), ([0.5, 0.25], "float32")),
    "python int keeps int32": (lambda m, a: a * 3 + 1, ([5, -2, 7], "int32")),
    "python float makes float64": (lambda m, a: a * 0.5, ([5, -2], "int64")),
    "true divide of ints": (lambda m, a, b: a / b, ([7, -7, 0, 1], "int64"), ([2, 2, 0, 0], "int64")),
    "float divide by zero": (lambda m, a, b: a / b, ([1.0, -1.0, 0.0], "float32"), ([0.0, 0.0, 0.0], "float32")),
    "floor divide and mod": (lambda m, a, b: m.concatenate([a // b, a % b]), ([7, -7, 7, -7], "int64"),
                             ([2, 2, -2, -2], "int64")),
    "int32 wraps": (lambda m, a: a * 65536 * 65536, ([3, 1], "int32")),
    "broadcast": (lambda m, a, b: a - b, ([[1.0], [2.0]], "float32"), ([10.0, 20.0, 30.0], "float32")),
    "compare": (lambda m, a, b: m.concatenate([a < b, a == b]), ([1, 2, 3], "int64"), ([2, 2, 2], "int64")),
    "where": (lambda m, c, a: m.where(c, a, -a), ([True, False, True], "bool"), ([1.5, 2.5, 3.5], "float32")),
    "sum int32 is int64": (lambda m, a: a.sum(axis=1), ([[1, 2], [3, 4]], "int32")),
    "mean keepdims": (lambda m, a: a.mean(axis=(0, 2), keepdims=True), ([[[1, 2], [3, 4]], [[5, 6], [7, 9]]], "float32")),
    "max with nan": (lambda m, a: a.max(axis=-1), ([[1.0, math.nan], [2.0, 3.0]], "float32")),
    "prod": (lambda m, a: m.prod(a), ([2, 3, 4], "int64")),
    "transpose": (lambda m, a: a.reshape(2, 3, 2).transpose(2, 0, 1), (list(range(12)), "int64")),
    "slice with step": (lambda m, a: a.reshape(3, 4)[::2, 1::2], (list(range(12)), "float32")),
    "negative step": (lambda m, a: a[::-1], ([1, 2, 3], "int64")),
    "newaxis and ellipsis": (lambda m, a: a.reshape(2, 3)[..., None, 1], (list(range(6)), "int64")),
    "take": (lambda m, a, i: m.take(a.reshape(3, 2), i, axis=0), (list(range(6)), "float32"), ([2, 0, -1], "int64")),
    "leading integer arrays": (lambda m, a, i, j: a.reshape(3, 2, 2)[i, j], (list(range(12)), "int64"),
                               ([0, 2], "int64"), ([1, 0], "int64")),
    "boolean mask": (lambda m, a, c: a[c], ([1, 2, 3], "int64"), ([True, False, True], "bool")),
    "concatenate": (lambda m, a, b: m.concatenate([a.reshape(1, 2), b.reshape(1, 2)], axis=1),
                    ([1, 2], "int64"), ([3, 4], "int32")),
    "expand_dims and squeeze": (lambda m, a: m.squeeze(m.expand_dims(a, (0, 2)), axis=0), ([1.0, 2.0], "float32")),
    "astype float to int truncates": (lambda m, a: a.astype(m.int64), ([1.7, -1.7, 2.5], "float32")),
    "astype to float16": (lambda m, a: a.astype(m.float16), ([0.1, 65519.0, 1e-8, 3.14159], "float32")),
    "astype to bool": (lambda m, a: a.astype(m.bool_), ([0.0, 2.0, -0.0], "float32")),
    "sqrt and log": (lambda m, a: m.concatenate([m.sqrt(a), m.log(a)]), ([0.0, 1.0, 4.0, 0.5, 1e-30], "float32")),
    "erf in float64": (lambda m, a: (1 / (1 + m.exp(-a.astype(m.float64)))).astype(m.float32), ([-1.0, 0.0, 3.0], "float32")),
    "arange": (lambda m, a: m.arange(int(a[0]), 10, 3), ([1], "int64")),
    "broadcast_to then sum": (lambda m, a: m.broadcast_to(a, (4, 3)).sum(axis=0), ([1.0, 2.0, 3.0], "float32")),
    "empty": (lambda m, a: a.reshape(0, 3).sum(axis=0), ([], "float32")),
    "cumsum": (lambda m, a: m.cumsum(a.reshape(2, 2), axis=1), ([1, 2, 3, 4], "int64")),
    "tile and repeat": (lambda m, a: m.concatenate([m.tile(a, 2), m.repeat(a, 2)]), ([1, 2], "int64")),
    "pad": (lambda m, a: m.pad(a.reshape(1, 2), ((1, 0), (0, 2))), ([1.0, 2.0], "float32")),
    "triu": (lambda m, a: m.triu(a.reshape(3, 3), 1), (list(range(9)), "int32")),
    "matmul": (lambda m, a, b: m.matmul(a.reshape(2, 3), b.reshape(3, 2)), (list(range(6)), "float32"),
               ([0.5, 1, 2, 3, 4, 5], "float32")),
    "argmax": (lambda m, a: a.reshape(2, 3).argmax(axis=1), ([3, 1, 2, 0, 5, 5], "int64")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_like_numpy(name):
    fn, *values = CASES[name]
    got, want = both(fn, *values)
    same(got, want)


def test_float32_transcendentals_within_a_few_ulps():
    """numpy's float32 exp, tanh, sin ... are its own SIMD approximations (a few ulps off);
    purenp rounds the float64 result, so the two may differ in the last bits, and so may a
    constant folded from them."""
    xs = [-20.0, -2.3, -0.77, 0.001, 0.5, 1.0, 3.7, 10.1, 80.0]
    for name in ("exp", "tanh", "sin", "cos", "arctan"):
        got = np.frombuffer(getattr(pn, name)(pn.asarray(xs, "float32")).tobytes(), np.float32)
        want = getattr(np, name)(np.asarray(xs, np.float32))
        assert np.all(np.abs(got - want) <= 4 * np.spacing(np.abs(want))), name


def test_a_reshaped_view_writes_into_its_array():
    out = pn.empty(4, dtype=object)
    out.reshape(2, 2)[:] = [[1, "a"], [None, 2.5]]
    assert out.tolist() == [1, "a", None, 2.5]
    z = pn.zeros((2, 3), pn.float32)
    z[:, 1:] = pn.asarray([7.0, 8.0], "float32")
    assert z.tolist() == [[0, 7, 8], [0, 7, 8]]


def test_uniform_arrays_stay_uniform():
    """Placeholders for shape inference: one stored value through elementwise ops, moves and reductions."""
    x = pn.broadcast_to(pn.zeros((), pn.float32), (64, 128, 768))
    y = (pn.exp(x - x.max(axis=-1, keepdims=True)).transpose(2, 0, 1) * 2).sum(axis=0)
    assert y.shape == (64, 128) and y._data is None and y._fill == 1536.0


def test_dtypes_and_scalar_types_compare_like_numpys():
    assert pn.dtype("float32") == pn.float32 and str(pn.dtype(pn.int64)) == "int64"
    assert pn.result_type(pn.asarray([1], "uint8"), pn.asarray([1], "int8")) == pn.int16
    assert pn.issubdtype(pn.dtype("int32"), pn.integer) and not pn.issubdtype(pn.float16, pn.integer)
    assert float(pn.float32(0.1)) == float(np.float32(0.1))
    assert pn.iinfo(pn.int32).max == np.iinfo(np.int32).max


def test_what_is_missing_is_an_attribute_error():
    """The frontend turns AttributeError into one sentence (the op needs the host compiler)."""
    with pytest.raises(AttributeError):
        pn.einsum  # noqa: B018
    with pytest.raises(AttributeError):
        pn.unique(pn.asarray([1, 1]))
