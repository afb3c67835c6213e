"""purenp's element types: numpy's dtype names and kinds, scalar types usable as dtypes,
NEP 50 type promotion, and the storage of each dtype (array.array typecodes; float16 rounded
through struct)."""
from __future__ import annotations

import builtins as _b
import math
import struct
from array import array as _buffer

inf, nan, pi, e = math.inf, math.nan, math.pi, math.e
newaxis = None


# ---- dtypes -------------------------------------------------------------------------------

class dtype:  # noqa: N801 (numpy's name)
    """An element type: name, kind ('b', 'i', 'u', 'f', 'O'), itemsize and storage code."""
    _all: dict[str, "dtype"] = {}

    def __new__(cls, spec="float64"):
        return _dtype_of(spec)

    @classmethod
    def _make(cls, name: str, kind: str, itemsize: int, code: str | None, char: str):
        self = object.__new__(cls)
        self.name, self.kind, self.itemsize, self.code, self.char = name, kind, itemsize, code, char
        cls._all[name] = self
        return self

    @property
    def type(self):
        return _SCALARS[self.name]

    def __eq__(self, other):
        try:
            return self is _dtype_of(other)
        except TypeError:
            return False

    def __hash__(self):
        return hash(self.name)

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"dtype('{self.name}')"


for _args in (("bool", "b", 1, None, "?"), ("int8", "i", 1, "b", "b"), ("uint8", "u", 1, "B", "B"),
              ("int16", "i", 2, "h", "h"), ("uint16", "u", 2, "H", "H"), ("int32", "i", 4, "i", "i"),
              ("uint32", "u", 4, "I", "I"), ("int64", "i", 8, "q", "q"), ("uint64", "u", 8, "Q", "Q"),
              ("float16", "f", 2, "f", "e"), ("float32", "f", 4, "f", "f"), ("float64", "f", 8, "d", "d"),
              ("object", "O", 8, None, "O")):
    dtype._make(*_args)
_D = dtype._all


class _ScalarType:
    """np.float32 and friends: usable as a dtype, and called, a 0-d array of that dtype."""

    def __init__(self, name):
        self.__name__ = self.name = name

    def __call__(self, value=0):
        return asarray(value, self.name).reshape(())

    def __eq__(self, other):
        return _D[self.name] == other

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"<class 'numpy.{self.name}'>"


class _Abstract:
    """np.integer, np.floating ...: the kinds issubdtype asks about."""

    def __init__(self, kinds):
        self.kinds = kinds


_SCALARS = {name: _ScalarType(name) for name in _D}
bool_, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float16, float32, float64, object_ = (
    _SCALARS[n] for n in ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                          "float16", "float32", "float64", "object"))
integer, signedinteger, unsignedinteger, floating = _Abstract("iu"), _Abstract("i"), _Abstract("u"), _Abstract("f")
number, generic = _Abstract("iuf"), _Abstract("biufO")
_PY_TYPES = {bool: "bool", int: "int64", float: "float64", object: "object", str: "object"}


def _dtype_of(spec) -> dtype:
    if isinstance(spec, dtype):
        return spec
    if isinstance(spec, _ScalarType):
        return _D[spec.name]
    if isinstance(spec, str) and spec in _D:
        return _D[spec]
    if spec in _PY_TYPES:
        return _D[_PY_TYPES[spec]]
    if spec is None:
        return _D["float64"]
    if isinstance(spec, ndarray):
        return spec.dtype
    raise TypeError(f"data type {spec!r} not understood")


def issubdtype(a, b) -> bool:
    a = _dtype_of(a.dtype if isinstance(a, ndarray) else a)
    return a.kind in b.kinds if isinstance(b, _Abstract) else a is _dtype_of(b)


class iinfo:  # noqa: N801
    def __init__(self, t):
        t = _dtype_of(t)
        bits = 8 * t.itemsize
        self.bits, self.dtype = bits, t
        self.min, self.max = (-(1 << bits - 1), (1 << bits - 1) - 1) if t.kind == "i" else (0, (1 << bits) - 1)


class finfo:  # noqa: N801
    _VALUES = {"float16": (65504.0, 2 ** -14, 2 ** -10), "float32": (3.4028234663852886e38, 2 ** -126, 2 ** -23),
               "float64": (1.7976931348623157e308, 2 ** -1022, 2 ** -52)}

    def __init__(self, t):
        t = _dtype_of(t)
        self.dtype = t
        self.max, self.tiny, self.eps = self._VALUES[t.name]
        self.min = -self.max
        self.smallest_normal = self.tiny


def _python_kind(value) -> str | None:
    """'b', 'i' or 'f' for a Python scalar (a weak type under NEP 50), None otherwise."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    return None


def _promote(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if "O" in (a.kind, b.kind):
        return _D["object"]
    if a.kind == "b":
        return b
    if b.kind == "b":
        return a
    if a.kind == "f" and b.kind == "f":
        return a if a.itemsize >= b.itemsize else b
    if "f" in (a.kind, b.kind):
        f, i = (a, b) if a.kind == "f" else (b, a)
        need = {1: 2, 2: 4, 4: 8, 8: 8}[i.itemsize]  # the float that holds every value of the int
        return f if f.itemsize >= need else _D[{2: "float16", 4: "float32", 8: "float64"}[need]]
    if a.kind == b.kind:
        return a if a.itemsize >= b.itemsize else b
    s, u = (a, b) if a.kind == "i" else (b, a)
    if s.itemsize > u.itemsize:
        return s
    return _D["float64"] if u.itemsize == 8 else _D[f"int{16 * u.itemsize}"]


def result_type(*args) -> dtype:
    strong = [a.dtype if isinstance(a, ndarray) else _dtype_of(a) for a in args if _python_kind(a) is None]
    weak = [_python_kind(a) for a in args if _python_kind(a) is not None]
    out = None
    for t in strong:
        out = t if out is None else _promote(out, t)
    for kind in weak:
        if out is None:
            out = _D[{"b": "bool", "i": "int64", "f": "float64"}[kind]]
        elif kind == "i" and out.kind == "b":
            out = _D["int64"]
        elif kind == "f" and out.kind in "biu":
            out = _D["float64"]
    return out if out is not None else _D["float64"]


# ---- storage ------------------------------------------------------------------------------

def _wrap_int(value: int, t: dtype) -> int:
    bits = 8 * t.itemsize
    value &= (1 << bits) - 1
    return value - (1 << bits) if t.kind == "i" and value >> (bits - 1) else value


def _to_int(x) -> int:
    if isinstance(x, float):
        return int(x) if math.isfinite(x) else -(1 << 63)
    return int(x)


def _convert(values, t: dtype):
    """Python values -> the storage of dtype t (values cast as numpy's astype casts them)."""
    if t.kind == "f":
        data = _buffer("d" if t.name == "float64" else "f", [float(v) for v in values]) if not (
            isinstance(values, _buffer) and values.typecode in "fd") else _buffer("d" if t.name == "float64" else "f", values)
        if t.name == "float16":
            data = _round_half(data)
        return data
    if t.kind in "iu":
        ints = [_to_int(v) for v in values] if not (isinstance(values, _buffer) and values.typecode not in "fd") else values
        try:
            return _buffer(t.code, ints)
        except OverflowError:
            return _buffer(t.code, [_wrap_int(v, t) for v in ints])
    if t.kind == "b":
        return [bool(v) for v in values]
    return list(values)


def _round_half(data) -> _buffer:
    """Values rounded to float16 (kept as float32), a chunk at a time through struct."""
    out = _buffer("f")
    for start in range(0, len(data), 1 << 16):
        chunk = data[start:start + (1 << 16)]
        n = len(chunk)
        try:
            packed = struct.pack(f"<{n}e", *chunk)
        except OverflowError:  # a value beyond float16's range: infinity, as numpy gives
            packed = struct.pack(f"<{n}e", *(_half(v) for v in chunk))
        out.frombytes(_buffer("f", struct.unpack(f"<{n}e", packed)).tobytes())
    return out


def _half(v: float) -> float:
    """float16 overflows to infinity (struct refuses it)."""
    return v if not math.isfinite(v) or _b.abs(v) < 65520.0 else math.copysign(inf, v)


def _scalar(value, t: dtype):
    return _convert([value], t)[0]


def _normalize_shape(shape) -> tuple:
    if isinstance(shape, ndarray):
        shape = shape.tolist()
    if isinstance(shape, (int,)) or hasattr(shape, "__index__") and not isinstance(shape, (list, tuple)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _row_major(shape) -> tuple:
    strides, n = [], 1
    for s in reversed(shape):
        strides.append(n)
        n *= s
    return tuple(reversed(strides))


def _gather(data, offset: int, shape, strides):
    """Elements of a strided view of flat `data`, row-major (a slice of data's own type, or a list)."""
    if _size(shape) == 0:
        return []
    dims = [(n, s) for n, s in zip(shape, strides) if n != 1]
    if not dims:
        return data[offset:offset + 1]
    if [s for _, s in dims] == list(_row_major([n for n, _ in dims])):  # one contiguous run: a slice
        return data[offset:offset + _size([n for n, _ in dims])]
    inner, step = dims[-1]
    starts = [offset]
    for n, s in dims[:-1]:
        moves = [j * s for j in range(n)]
        starts = [i + d for i in starts for d in moves]
    if step == 1:  # whole rows: slices copied at C speed
        out = data[0:0]
        for i in starts:
            out += data[i:i + inner]
        return out
    return [data[i + j * step] for i in starts for j in range(inner)]


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("annotations", "math", "struct", "product")]

# Last: array.py imports this module's names (every one defined by now).
from .array import asarray, ndarray  # noqa: E402
