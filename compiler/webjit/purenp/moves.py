"""purenp's functions that move elements (reshape, transpose, concatenate, take, pad ...),
reduce them, or compare whole arrays."""
from __future__ import annotations

import builtins as _b
import math
from array import array as _buffer
from itertools import product

from .array import _full, asarray, full, indices, ndarray, zeros
from .dtypes import _D, _convert, _dtype_of, _gather, _row_major, _scalar, _size, inf, result_type
from .elementwise import _binary, _safe, _unary, broadcast_arrays, broadcast_shapes, broadcast_to, where


# ---- moving elements ----------------------------------------------------------------------

def reshape(a, shape, order="C"):
    return asarray(a).reshape(shape)


def ravel(a):
    return asarray(a).reshape(-1)


def transpose(a, axes=None):
    return asarray(a).transpose(*(() if axes is None else (tuple(axes),)))


def moveaxis(a, source, destination):
    a = asarray(a)
    source, destination = source % a.ndim, destination % a.ndim
    order = [i for i in range(a.ndim) if i != source]
    order.insert(destination, source)
    return a.transpose(order)


def expand_dims(a, axis):
    a = asarray(a)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = a.ndim + len(axes)
    axes = sorted(x % ndim for x in axes)
    shape = list(a.shape)
    for x in axes:
        shape.insert(x, 1)
    return a.reshape(shape)


def squeeze(a, axis=None):
    a = asarray(a)
    if axis is None:
        return a.reshape([n for n in a.shape if n != 1])
    axes = {x % a.ndim for x in (axis if isinstance(axis, (tuple, list)) else (axis,))}
    if _b.any(a.shape[x] != 1 for x in axes):
        raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return a.reshape([n for i, n in enumerate(a.shape) if i not in axes])


def concatenate(arrays, axis=0, dtype=None):
    arrays = [asarray(x) for x in arrays]
    if axis is None:
        arrays, axis = [x.reshape(-1) for x in arrays], 0
    first = arrays[0]
    axis %= first.ndim
    t = _dtype_of(dtype) if dtype is not None else result_type(*arrays)
    for x in arrays:
        if x.ndim != first.ndim or _b.any(x.shape[i] != first.shape[i] for i in range(x.ndim) if i != axis):
            raise ValueError("all the input array dimensions except for the concatenation axis must match exactly")
    shape = list(first.shape)
    shape[axis] = _b.sum(x.shape[axis] for x in arrays)
    uniforms = [x._uniform() for x in arrays if x.size]
    if uniforms and _b.all(u for u, _ in uniforms) and len({v for _, v in uniforms}) == 1:
        return _full(shape, _scalar(uniforms[0][1], t), t)
    outer = _size(first.shape[:axis])
    parts = [(list(x.astype(t)._flat()), _size(x.shape[axis:])) for x in arrays]
    values = []
    for o in range(outer):
        for flat, chunk in parts:
            values.extend(flat[o * chunk:(o + 1) * chunk])
    return ndarray(shape, t, _convert(values, t) if t.code is not None or t.kind == "b" else values)


def stack(arrays, axis=0):
    arrays = [asarray(x) for x in arrays]
    return concatenate([expand_dims(x, axis) for x in arrays], axis=axis)


def take(a, idx, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    axis %= a.ndim
    idx = asarray(idx)
    n = a.shape[axis]
    positions = [int(i) for i in idx._flat()]
    for i in positions:
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
    shape = a.shape[:axis] + idx.shape + a.shape[axis + 1:]
    uniform, value = a._uniform()
    if uniform:
        return _full(shape, value, a.dtype)
    outer, inner = _size(a.shape[:axis]), _size(a.shape[axis + 1:])
    flat = a._flat()
    values = []
    for o in range(outer):
        base = o * n * inner
        for i in positions:
            start = base + (i % n) * inner
            values.extend(flat[start:start + inner])
    return ndarray(shape, a.dtype, a._store(values))


def take_along_axis(a, idx, axis):
    a, idx = asarray(a), asarray(idx)
    axis %= a.ndim
    grid = list(indices(idx.shape))
    grid[axis] = where(idx < 0, idx + a.shape[axis], idx)
    linear = ravel_multi_index(tuple(grid), a.shape).reshape(-1)
    flat = a._flat()
    return ndarray(idx.shape, a.dtype, a._store([flat[i] for i in linear._flat()]))


def ravel_multi_index(coords, dims):
    coords = broadcast_arrays(*[asarray(c) for c in coords])
    rm = _row_major(dims)
    out = zeros(coords[0].shape, "int64")
    for c, s, n in zip(coords, rm, dims):
        if _b.any(not 0 <= int(v) < n for v in c._flat()):
            raise ValueError("invalid entry in coordinates array")
        out = out + c.astype("int64") * s
    return out


def flip(a, axis=None):
    a = asarray(a)
    axes = range(a.ndim) if axis is None else [x % a.ndim for x in (axis if isinstance(axis, (tuple, list)) else (axis,))]
    key = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(a.ndim))
    return a[key]


def tile(a, reps):
    a = asarray(a)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    ndim = _b.max(a.ndim, len(reps))
    a = a.reshape((1,) * (ndim - a.ndim) + a.shape)
    reps = (1,) * (ndim - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            a = concatenate([a] * r, axis=axis) if r else take(a, asarray([], "int64"), axis=axis)
    return a


def repeat(a, repeats, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    idx = [i for i in range(a.shape[axis]) for _ in range(repeats)]
    return take(a, asarray(idx, "int64"), axis=axis)


def pad(a, widths, mode="constant", constant_values=0):
    if mode != "constant":
        raise AttributeError(f"pad mode {mode}")
    a = asarray(a)
    widths = [(w, w) if isinstance(w, int) else tuple(w) for w in (widths if a.ndim > 1 or
                                                                  not isinstance(widths[0], int) else [widths])]
    if len(widths) == 1 and a.ndim > 1:
        widths = widths * a.ndim
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths))
    out = full(shape, constant_values, a.dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))] = a
    return out


def triu(a, k=0):
    return _triangle(a, k, lambda i, j: j - i >= k)


def tril(a, k=0):
    return _triangle(a, k, lambda i, j: j - i <= k)


def _triangle(a, k, keep):
    a = asarray(a)
    rows, cols = a.shape[-2:]
    mask = asarray([[keep(i, j) for j in range(cols)] for i in range(rows)], "bool")
    return where(mask, a, zeros((), a.dtype)).astype(a.dtype)


def cumsum(a, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    moved = moveaxis(a, axis, -1)
    n = moved.shape[-1] if moved.shape else 1
    flat = list(moved._flat())
    values = []
    for start in range(0, len(flat), n or 1):
        total = 0
        for v in flat[start:start + n]:
            total += v
            values.append(total)
    t = a.dtype if a.dtype.kind in "fiu" and a.dtype.itemsize >= 8 or a.dtype.kind == "f" else _D["int64"]
    return moveaxis(ndarray(moved.shape, t, _convert(values, t)), -1, axis)


# ---- reductions and comparisons as functions ----------------------------------------------

def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001
    return asarray(a).sum(axis, dtype, keepdims)


def prod(a, axis=None, dtype=None, keepdims=False):
    a = a if isinstance(a, ndarray) else asarray(list(a) if isinstance(a, tuple) else a, dtype or (
        "int64" if not a or _b.all(isinstance(v, int) for v in (a if isinstance(a, (list, tuple)) else [a])) else None))
    out = a.prod(axis, dtype, keepdims)
    return out


def mean(a, axis=None, dtype=None, keepdims=False):
    return asarray(a).mean(axis, dtype, keepdims)


def max(a, axis=None, keepdims=False, initial=None):  # noqa: A001
    return asarray(a).max(axis, keepdims, initial)


def min(a, axis=None, keepdims=False, initial=None):  # noqa: A001
    return asarray(a).min(axis, keepdims, initial)


amax, amin = max, min


def all(a, axis=None, keepdims=False):  # noqa: A001
    return asarray(a).all(axis, keepdims)


def any(a, axis=None, keepdims=False):  # noqa: A001
    return asarray(a).any(axis, keepdims)


def argmax(a, axis=None, keepdims=False):
    return asarray(a).argmax(axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    return asarray(a).argmin(axis, keepdims)


def array_equal(a, b, equal_nan=False) -> bool:
    a, b = asarray(a), asarray(b)
    if a.shape != b.shape:
        return False
    ua, va = a._uniform()
    ub, vb = b._uniform()
    if ua and ub:
        return va == vb or equal_nan and va != va and vb != vb
    fa, fb = a._flat(), b._flat()
    if isinstance(fa, _buffer) and isinstance(fb, _buffer) and fa.typecode == fb.typecode and not equal_nan:
        return fa == fb
    return _b.all(x == y or equal_nan and x != x and y != y for x, y in zip(fa, fb))


def array2string(a, separator=" ", precision=8, **kwargs) -> str:
    a = asarray(a)

    def text(v):
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, float):
            return (f"{v:.{precision}f}".rstrip("0").rstrip(".") + ".") if math.isfinite(v) and v == int(v) and _b.abs(v) < 1e16 else (
                f"{v:.{precision}g}" if math.isfinite(v) else ("nan" if v != v else "inf" if v > 0 else "-inf"))
        return str(v)

    def nest(x):
        if x.ndim == 0:
            return text(x.item())
        return "[" + separator.join(nest(x[i:i + 1].reshape(x.shape[1:])) for i in range(x.shape[0])) + "]"
    return nest(a)


class _StrideTricks:
    @staticmethod
    def as_strided(x, shape, strides):
        x = asarray(x)
        step = x.dtype.itemsize
        return ndarray(tuple(shape), x.dtype, x._store(_gather(x._flat(), 0, tuple(shape), [s // step for s in strides])))


class lib:  # noqa: N801
    stride_tricks = _StrideTricks


def ndindex(*shape):
    if len(shape) == 1 and isinstance(shape[0], tuple):
        shape = shape[0]
    return product(*(range(n) for n in shape))


def meshgrid(*xs, indexing="xy"):
    xs = [asarray(x).reshape(-1) for x in xs]
    shape = [x.size for x in xs]
    if indexing == "xy" and len(xs) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xs):
        axis = (1 if i == 0 else 0 if i == 1 else i) if indexing == "xy" and len(xs) > 1 else i
        view = [1] * len(xs)
        view[axis] = x.size
        out.append(broadcast_to(x.reshape(view), shape))
    return out


def tan(x): return _unary(_safe(math.tan), x)
def sinh(x): return _unary(_safe(math.sinh), x)
def cosh(x): return _unary(_safe(math.cosh), x)
def arcsin(x): return _unary(_safe(math.asin), x)
def arccos(x): return _unary(_safe(math.acos), x)
def arctan(x): return _unary(_safe(math.atan), x)
def arcsinh(x): return _unary(_safe(math.asinh), x)
def arccosh(x): return _unary(_safe(math.acosh), x)
def arctanh(x): return _unary(_safe(lambda v: math.copysign(inf, v) if _b.abs(v) == 1 else math.atanh(v)), x)
def expm1(x): return _unary(_safe(math.expm1), x)
def log1p(x): return _unary(_safe(lambda v: -inf if v == -1 else math.log1p(v)), x)
def left_shift(a, b): return _binary(lambda x, y: x << y, a, b)
def right_shift(a, b): return _binary(lambda x, y: x >> y, a, b)


def logaddexp(a, b):
    def f(x, y):
        if x == y == -inf:
            return -inf
        hi = _b.max(x, y)
        return hi + math.log1p(math.exp(-_b.abs(x - y))) if math.isfinite(hi) else hi
    return _binary(f, a, b)


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    step = (stop - start) / ((num - 1) if endpoint else num) if num > 1 or not endpoint else 0.0
    values = [start + i * step for i in range(num)]
    if endpoint and num > 1:
        values[-1] = float(stop)
    return asarray(values, dtype or "float64")


def eye(n, m=None, k=0, dtype=float):
    m = n if m is None else m
    return asarray([[1 if j - i == k else 0 for j in range(m)] for i in range(n)], dtype)


def cumprod(a, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    moved = moveaxis(a, axis, -1)
    n = moved.shape[-1] if moved.shape else 1
    flat, values = list(moved._flat()), []
    for start in range(0, len(flat), n or 1):
        total = 1
        for v in flat[start:start + n]:
            total *= v
            values.append(total)
    t = a.dtype if a.dtype.kind == "f" or a.dtype.itemsize >= 8 else _D["int64"]
    return moveaxis(ndarray(moved.shape, t, _convert(values, t)), -1, axis)


def argsort(a, axis=-1, kind=None, stable=None):
    a = asarray(a)
    axis %= a.ndim
    moved = moveaxis(a, axis, -1)
    n = moved.shape[-1]
    flat, values = list(moved._flat()), []
    for start in range(0, len(flat), n or 1):
        row = flat[start:start + n]
        values.extend(sorted(range(n), key=lambda i: (row[i] != row[i], row[i])))  # NaN last, stable
    return moveaxis(ndarray(moved.shape, _D["int64"], _convert(values, _D["int64"])), -1, axis)


def compress(condition, a, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    keep = [i for i, c in enumerate(asarray(condition)._flat()) if c and i < a.shape[axis % a.ndim]]
    return take(a, asarray(keep, "int64"), axis=axis)


def unique(a, return_index=False, return_inverse=False, return_counts=False, axis=None):
    raise AttributeError("unique")


def matmul(a, b):
    a, b = asarray(a), asarray(b)
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError("matmul: a scalar operand")
    a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
    b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
    m, k = a2.shape[-2:]
    k2, n = b2.shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: inner dimensions {k} and {k2} differ")
    batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    t = result_type(a, b)
    fa = list(broadcast_to(a2, batch + (m, k))._flat())
    fb = list(broadcast_to(b2, batch + (k, n))._flat())
    values = []
    for s in range(_size(batch)):
        pa, pb = s * m * k, s * k * n
        columns = [fb[pb + j:pb + k * n:n] for j in range(n)]
        for i in range(m):
            row = fa[pa + i * k:pa + (i + 1) * k]
            values.extend(math.fsum(x * y for x, y in zip(row, col)) if t.kind == "f" else _b.sum(x * y for x, y in zip(row, col))
                          for col in columns)
    out = ndarray(batch + (m, n), t, _convert(values, t))
    if a.ndim == 1:
        out = out.reshape(out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = out.reshape(out.shape[:-1])
    return out


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("annotations", "math", "struct", "product")]
