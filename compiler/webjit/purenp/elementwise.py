"""purenp's elementwise functions: broadcasting, arithmetic with numpy's results for
zeros, infinities and NaN, comparisons, math functions, where."""
from __future__ import annotations

import builtins as _b
import math

from .array import _full, asarray, ndarray
from .dtypes import (_D, _ScalarType, _convert, _dtype_of, _gather, _normalize_shape, _row_major, _scalar, _size,
                     dtype, inf, nan, result_type)


# ---- broadcasting and elementwise ---------------------------------------------------------

def broadcast_shapes(*shapes) -> tuple:
    out: list = []
    for shape in shapes:
        shape = tuple(shape)
        pad = len(shape) - len(out)
        if pad > 0:
            out = [1] * pad + out
        shape = (1,) * (len(out) - len(shape)) + shape
        for i, (a, b) in enumerate(zip(out, shape)):
            if a == 1:
                out[i] = b
            elif b != 1 and a != b:
                raise ValueError(f"shape mismatch: objects cannot be broadcast to a single shape ({a} vs {b})")
    return tuple(out)


def broadcast_to(a, shape, subok=False) -> ndarray:
    a = asarray(a)
    shape = _normalize_shape(shape)
    if a.shape == shape:
        return a
    if broadcast_shapes(a.shape, shape) != shape:
        raise ValueError(f"operands could not be broadcast from {a.shape} to {shape}")
    uniform, value = a._uniform()
    if uniform:
        return _full(shape, value, a.dtype)
    lead = len(shape) - a.ndim
    rm = _row_major(a.shape)
    strides = [0] * lead + [0 if n == 1 else s for n, s in zip(a.shape, rm)]
    return ndarray(shape, a.dtype, a._store(_gather(a._data, 0, shape, strides)))


def broadcast_arrays(*arrays):
    arrays = [asarray(a) for a in arrays]
    shape = broadcast_shapes(*(a.shape for a in arrays))
    return [broadcast_to(a, shape) for a in arrays]


def _elementwise(fn, operands, t: dtype) -> ndarray:
    """fn applied to the broadcast operands (ndarrays or Python scalars); results stored as t."""
    arrays = [o for o in operands if isinstance(o, ndarray)]
    shape = broadcast_shapes(*(a.shape for a in arrays))
    uniform = [o._uniform() if isinstance(o, ndarray) else (True, o) for o in operands]
    if _b.all(u for u, _ in uniform):
        if _size(shape) == 0:
            return ndarray(shape, t, _convert([], t))
        return _full(shape, _scalar(fn(*(v for _, v in uniform)), t), t)
    columns = [o if not isinstance(o, ndarray) else (o._uniform()[1] if o._uniform()[0] else None)
               for o in operands]
    flats = [broadcast_to(o, shape)._flat() if isinstance(o, ndarray) and c is None else None
             for o, c in zip(operands, columns)]
    n = _size(shape)
    args = [f if f is not None else [c] * n for f, c in zip(flats, columns)]
    return ndarray(shape, t, _convert([fn(*vs) for vs in zip(*args)], t))


def _binary(fn, a, b, t=None):
    a, b = _as_operand(a), _as_operand(b)
    t = result_type(a, b) if t is None else t
    if t.kind in "iu":
        return _elementwise(fn, (a, b), t)
    if t.kind == "f":
        return _elementwise(lambda x, y: fn(float(x), float(y)), (a, b), t)
    return _elementwise(fn, (a, b), t)


def _as_operand(x):
    if isinstance(x, (ndarray, bool, int, float)):
        return x
    if isinstance(x, _ScalarType):
        raise TypeError("a type is not an operand")
    return asarray(x)


def _add(a, b):
    return a + b


def _sub(a, b):
    return a - b


def _mul(a, b):
    try:
        return a * b
    except OverflowError:
        return nan


def _true_divide(a, b):
    a, b = float(a), float(b)
    if b == 0:
        if a == 0 or a != a:
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)
    return a / b


def divide(a, b):
    a, b = _as_operand(a), _as_operand(b)
    t = result_type(a, b)
    if t.kind in "biu":
        t = _D["float64"]
    return _elementwise(_true_divide, (a, b), t)


true_divide = divide


def _floor_div(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if b == 0:
            return _true_divide(a, b)
        return float(math.floor(a / b))
    return a // b if b else 0


def floor_divide(a, b):
    return _binary(_floor_div, a, b)


def _mod(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return nan if b == 0 or not math.isfinite(a) else a % b
    return a % b if b else 0


def mod(a, b):
    return _binary(_mod, a, b)


remainder = mod


def fmod(a, b):
    def f(x, y):
        if isinstance(x, float) or isinstance(y, float):
            return nan if y == 0 or not math.isfinite(x) else math.fmod(x, y)
        return int(math.fmod(x, y)) if y else 0
    return _binary(f, a, b)


def _pow(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a ** b if b >= 0 else 0
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return inf if _b.abs(a) > 1 else nan


def power(a, b):
    return _binary(_pow, a, b)


def _bitwise(fn, a, b):
    return _binary(fn, a, b)


def _compare(fn, a, b):
    return _elementwise(fn, (_as_operand(a), _as_operand(b)), _D["bool"])


def equal(a, b): return _compare(lambda x, y: x == y, a, b)
def not_equal(a, b): return _compare(lambda x, y: x != y, a, b)
def less(a, b): return _compare(lambda x, y: x < y, a, b)
def less_equal(a, b): return _compare(lambda x, y: x <= y, a, b)
def greater(a, b): return _compare(lambda x, y: x > y, a, b)
def greater_equal(a, b): return _compare(lambda x, y: x >= y, a, b)
def subtract(a, b): return _binary(_sub, a, b)

def logical_and(a, b): return _compare(lambda x, y: bool(x) and bool(y), a, b)
def logical_or(a, b): return _compare(lambda x, y: bool(x) or bool(y), a, b)
def logical_xor(a, b): return _compare(lambda x, y: bool(x) != bool(y), a, b)
def bitwise_and(a, b): return _binary(lambda x, y: x & y, a, b)
def bitwise_or(a, b): return _binary(lambda x, y: x | y, a, b)
def bitwise_xor(a, b): return _binary(lambda x, y: x ^ y, a, b)


class _Ufunc:
    """A binary elementwise function with numpy's `reduce` (along the first axis)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, a, b):
        return self.fn(a, b)

    def reduce(self, arrays, axis=0):
        parts = list(arrays) if isinstance(arrays, (list, tuple)) else [asarray(arrays)[i] for i in range(len(arrays))]
        if axis != 0:
            raise AttributeError("reduce along an axis other than the first")
        out = asarray(parts[0])
        for part in parts[1:]:
            out = self.fn(out, part)
        return out


maximum = _Ufunc(lambda a, b: _binary(lambda x, y: x if x != x else y if y != y else _b.max(x, y), a, b))
minimum = _Ufunc(lambda a, b: _binary(lambda x, y: x if x != x else y if y != y else _b.min(x, y), a, b))
add = _Ufunc(lambda a, b: _binary(_add, a, b))
multiply = _Ufunc(lambda a, b: _binary(_mul, a, b))


def _unary(fn, x, float_only=True):
    x = _as_operand(x)
    x = asarray(x)
    t = x.dtype if x.dtype.kind == "f" or not float_only else _D["float64"]
    return _elementwise(fn, (x,), t)


def _safe(fn, domain_value=nan):
    def f(v):
        try:
            return fn(float(v))
        except OverflowError:
            return inf
        except ValueError:
            return domain_value
    return f


def _log(v):
    v = float(v)
    if v == 0:
        return -inf
    if v < 0 or v != v:
        return nan
    return math.log(v) if v != inf else inf


def _sqrt(v):
    v = float(v)
    return nan if v < 0 or v != v else math.sqrt(v)


def _exp(v):
    v = float(v)
    if v != v:
        return nan
    try:
        return math.exp(v)
    except OverflowError:
        return inf


def sqrt(x): return _unary(_sqrt, x)
def exp(x): return _unary(_exp, x)
def log(x): return _unary(_log, x)
def tanh(x): return _unary(_safe(math.tanh), x)
def sin(x): return _unary(_safe(math.sin), x)
def cos(x): return _unary(_safe(math.cos), x)
def erf(x): return _unary(_safe(math.erf), x)


def _rounding(fn):
    def f(v):
        return v if isinstance(v, int) or not math.isfinite(v) else float(fn(v))
    return f


def floor(x): return _unary(_rounding(math.floor), x, float_only=False)
def ceil(x): return _unary(_rounding(math.ceil), x, float_only=False)
def trunc(x): return _unary(_rounding(math.trunc), x, float_only=False)
def rint(x): return _unary(_rounding(_b.round), x, float_only=False)


def round(x, decimals=0):  # noqa: A001 (numpy's name)
    if decimals:
        raise AttributeError("round with decimals")
    return rint(x)


around = round


def negative(x):
    x = asarray(x)
    return _elementwise(lambda v: -v, (x,), x.dtype)


def absolute(x):
    x = asarray(x)
    return _elementwise(_b.abs, (x,), x.dtype)


abs = absolute  # noqa: A001


def sign(x):
    x = asarray(x)
    return _elementwise(lambda v: v if v != v else (v > 0) - (v < 0), (x,), x.dtype)


def square(x):
    x = asarray(x)
    return x * x


def invert(x):
    x = asarray(x)
    if x.dtype.kind == "b":
        return _elementwise(lambda v: not v, (x,), x.dtype)
    return _elementwise(lambda v: ~v, (x,), x.dtype)


bitwise_not = invert


def logical_not(x):
    return _elementwise(lambda v: not v, (asarray(x),), _D["bool"])


def isnan(x):
    return _elementwise(lambda v: isinstance(v, float) and v != v, (asarray(x),), _D["bool"])


def isinf(x):
    return _elementwise(lambda v: isinstance(v, float) and math.isinf(v), (asarray(x),), _D["bool"])


def isfinite(x):
    return _elementwise(lambda v: not isinstance(v, float) or math.isfinite(v), (asarray(x),), _D["bool"])


def isposinf(x):
    return _elementwise(lambda v: v == inf, (asarray(x),), _D["bool"])


def isneginf(x):
    return _elementwise(lambda v: v == -inf, (asarray(x),), _D["bool"])


def clip(a, lo, hi):
    out = asarray(a)
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out.astype(asarray(a).dtype) if not isinstance(lo, float) and not isinstance(hi, float) else out


def where(cond, a=None, b=None):
    cond = asarray(cond)
    if a is None and b is None:
        return nonzero(cond)
    a, b = _as_operand(a), _as_operand(b)
    return _elementwise(lambda c, x, y: x if c else y, (cond, a, b), result_type(a, b))


def nonzero(a):
    a = asarray(a)
    flat = a._flat()
    hits = [i for i, v in enumerate(flat) if v]
    out = []
    for axis in range(a.ndim):
        stride, n = _row_major(a.shape)[axis], a.shape[axis]
        out.append(asarray([(i // stride) % n for i in hits], "int64"))
    return tuple(out)


class vectorize:  # noqa: N801
    def __init__(self, fn, otypes=None):
        self.fn, self.otypes = fn, otypes

    def __call__(self, x):
        x = asarray(x)
        t = _dtype_of(self.otypes[0]) if self.otypes else x.dtype
        return _elementwise(self.fn, (x,), t)


class errstate:  # noqa: N801
    """A no-op: these functions return inf and nan where numpy would warn."""

    def __init__(self, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("annotations", "math", "struct", "product")]
