"""A pure-Python stand-in for the part of numpy the compiler's browser path uses: n-d arrays of
the ONNX dtypes with numpy's semantics (row-major, broadcasting, NEP 50 type promotion,
float32 rounding on every store), for the page, where Pyodide has no numpy (nplike.py picks).

Written by hand because no numpy can be had in the page, and the compiler needs so little of
it: constants are shape arithmetic (a few elements) or weights (moved, cast and written, at C
speed through `array.array`). A uniform array (every element one value, like a zero-stride
placeholder for shape inference) stores that value once and stays uniform through elementwise
ops, reductions and moves, so shape inference costs no more than the shapes. What is not
here raises AttributeError, which the frontend turns into one sentence (nplike.MISSING).
`tests/test_purenp.py` checks it against numpy.
"""
from __future__ import annotations

import builtins as _b
import math
import struct
from array import array as _buffer
from itertools import product

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


# ---- the array ----------------------------------------------------------------------------

class ndarray:  # noqa: N801
    """An n-d array: a flat row-major buffer, or one value repeated (`_fill`, `_data` None).
    Both sit in a box that reshapes of the array share, so a write through a reshaped view
    (`out.reshape(-1)[:] = values`) is seen by the array, as in numpy."""
    __slots__ = ("shape", "dtype", "_box")
    __array_priority__ = 10

    def __init__(self, shape, dtype_, data=None, fill=None, box=None):
        self.shape, self.dtype = tuple(shape), _dtype_of(dtype_)
        self._box = [data, fill] if box is None else box

    @property
    def _data(self):
        return self._box[0]

    @property
    def _fill(self):
        return self._box[1]

    # -- basic properties
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return _size(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def strides(self):
        return tuple(s * self.dtype.itemsize for s in _row_major(self.shape))

    @property
    def T(self):  # noqa: N802
        return self.transpose()

    def _flat(self):
        """The elements, row-major (a buffer or list; do not modify it)."""
        if self._data is None:
            fill = self._fill
            if self.dtype.code is not None:
                return _buffer(self.dtype.code, [fill]) * self.size
            return [fill] * self.size
        return self._data

    def _uniform(self):
        """(True, value) when every element is one value known without looking."""
        if self._data is None:
            return True, self._fill
        if len(self._data) == 1:
            return True, self._data[0]
        return False, None

    # -- conversion
    def tolist(self):
        flat = list(self._flat())
        if self.dtype.kind == "b":
            flat = [bool(v) for v in flat]

        def nest(offset, dims):
            if not dims:
                return flat[offset]
            step = _size(dims[1:])
            return [nest(offset + i * step, dims[1:]) for i in range(dims[0])]
        return nest(0, self.shape)

    def item(self, *index):
        if index:
            return self[index if len(index) > 1 else index[0]]
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        value = self._flat()[0]
        return bool(value) if self.dtype.kind == "b" else value

    def tobytes(self) -> bytes:
        t = self.dtype
        if t.name == "float16":
            flat = self._flat()
            return struct.pack(f"<{len(flat)}e", *flat)
        if t.kind == "b":
            return bytes(int(v) for v in self._flat())
        if t.kind == "O":
            raise TypeError("an object array has no bytes")
        flat = self._flat()
        if not isinstance(flat, _buffer) or flat.typecode != t.code:
            flat = _buffer(t.code, flat)
        return flat.tobytes()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError("only integer arrays can be used as an index")
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        if self.ndim == 1:
            return iter(self.tolist())
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        return f"array({self.tolist()!r}, dtype={self.dtype.name})"

    __str__ = __repr__

    def __hash__(self):
        raise TypeError("unhashable type: 'numpy.ndarray'")

    # -- shape
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        shape = list(_normalize_shape(shape))
        if -1 in shape:
            known = _size([s for s in shape if s != -1])
            shape[shape.index(-1)] = self.size // known if known else 0
        if _size(shape) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {tuple(shape)}")
        return ndarray(shape, self.dtype, box=self._box)

    def ravel(self):
        return self.reshape(-1)

    flatten = ravel

    def copy(self, order="C"):
        data = None if self._data is None else (self._data[:])
        return ndarray(self.shape, self.dtype, data, self._fill)

    def astype(self, t, copy=True, order="K"):
        t = _dtype_of(t)
        if t is self.dtype:
            return self.copy() if copy else self
        if self._data is None:
            return ndarray(self.shape, t, None, _scalar(self._fill, t))
        return ndarray(self.shape, t, _convert(self._data, t))

    def view(self, t=None):
        if t is None or _dtype_of(t) is self.dtype:
            return ndarray(self.shape, self.dtype, self._data, self._fill)
        return frombuffer(self.tobytes(), t).reshape(self.shape[:-1] + (-1,) if self.shape else (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        axes = tuple(a % self.ndim for a in axes) if axes else tuple(reversed(range(self.ndim)))
        shape = tuple(self.shape[a] for a in axes)
        if self._data is None or axes == tuple(range(self.ndim)):
            return ndarray(shape, self.dtype, self._data, self._fill)
        rm = _row_major(self.shape)
        return ndarray(shape, self.dtype, self._store(_gather(self._data, 0, shape, [rm[a] for a in axes])))

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def squeeze(self, axis=None):
        return squeeze(self, axis)

    def _store(self, values, t=None):
        t = self.dtype if t is None else t
        if t.kind == "f" and isinstance(values, list):
            return _buffer("d" if t.name == "float64" else "f", values) if t.name != "float16" else _convert(values, t)
        return _convert(values, t) if t.code is not None else list(values)

    # -- indexing
    def _view_of(self, key):
        """offset, shape, strides and the axes taken by integer arrays, for a basic index."""
        if not isinstance(key, tuple):
            key = (key,)
        if _b.any(k is Ellipsis for k in key):
            i = next(j for j, k in enumerate(key) if k is Ellipsis)
            used = _b.sum(1 for k in key if k is not None and k is not Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - used) + key[i + 1:]
        offset, shape, strides = 0, [], []
        rm = _row_major(self.shape)
        axis = 0
        for k in key:
            if k is None:
                shape.append(1)
                strides.append(0)
                continue
            if axis >= self.ndim:
                raise IndexError("too many indices for array")
            n = self.shape[axis]
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                count = len(range(start, stop, step))
                offset += start * rm[axis]
                shape.append(count)
                strides.append(step * rm[axis])
            else:
                i = int(k)
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
                offset += (i % n) * rm[axis]
            axis += 1
        for a in range(axis, self.ndim):
            shape.append(self.shape[a])
            strides.append(rm[a])
        return offset, tuple(shape), tuple(strides)

    def __getitem__(self, key):
        if isinstance(key, (list, ndarray)) or isinstance(key, tuple) and _b.any(isinstance(k, (list, ndarray)) for k in key):
            return self._fancy(key)
        offset, shape, strides = self._view_of(key)
        if self._data is None:
            out = ndarray(shape, self.dtype, None, self._fill)
        else:
            out = ndarray(shape, self.dtype, self._store(_gather(self._data, offset, shape, strides)))
        if not shape and not (isinstance(key, tuple) and _b.any(k is Ellipsis for k in key)):
            return out.item()
        return out

    def _fancy(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        arrays = [i for i, k in enumerate(key) if isinstance(k, (list, ndarray))]
        if len(key) == 1 and asarray(key[0]).dtype.kind == "b":
            mask = asarray(key[0])
            if mask.shape != self.shape:
                raise IndexError("boolean index does not match the array's shape")
            flat = self._flat()
            return ndarray((_b.sum(bool(m) for m in mask._flat()),), self.dtype,
                           self._store([v for v, m in zip(flat, mask._flat()) if m]))
        if len(arrays) > 1:
            return self._leading_arrays(key, len(arrays))
        axis = arrays[0]
        if _b.any(not (isinstance(k, slice) and k == slice(None)) for i, k in enumerate(key) if i != axis):
            raise AttributeError("indexing by an integer array beside other indices")
        return take(self, asarray(key[axis]), axis=axis)

    def _leading_arrays(self, key, depth):
        """a[i0, i1, ...] with integer arrays on the first `depth` axes (broadcast together)."""
        if _b.any(not isinstance(k, (list, ndarray)) for k in key[:depth]) or _b.any(
                not (isinstance(k, slice) and k == slice(None)) for k in key[depth:]):
            raise AttributeError("integer-array indices that do not lead")
        coords = broadcast_arrays(*[asarray(k) for k in key[:depth]])
        rm = _row_major(self.shape)
        inner = _size(self.shape[depth:])
        flat = self._flat()
        values = []
        for point in zip(*(c._flat() for c in coords)):
            start = 0
            for axis, i in enumerate(point):
                n = self.shape[axis]
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
                start += (i % n) * rm[axis]
            values.extend(flat[start:start + inner])
        return ndarray(coords[0].shape + self.shape[depth:], self.dtype, self._store(values))

    def __setitem__(self, key, value):
        if isinstance(key, (list, ndarray)):
            mask = asarray(key)
            if mask.dtype.kind != "b" or mask.shape != self.shape:
                raise AttributeError("assignment through an integer-array index")
            value = broadcast_to(asarray(value), (_b.sum(bool(m) for m in mask._flat()),))._flat()
            data = list(self._flat())
            it = iter(value)
            for i, m in enumerate(mask._flat()):
                if m:
                    data[i] = next(it)
            self._set(data)
            return
        offset, shape, strides = self._view_of(key)
        if not _size(shape):
            return
        values = self._store(broadcast_to(asarray(value), shape).astype(self.dtype)._flat())
        data = self._flat()[:]  # a copy of the buffer (or list) to write into
        dims = [(n, s) for n, s in zip(shape, strides) if n != 1] or [(1, 1)]
        inner, step = dims[-1]
        starts = [offset]
        for n, s in dims[:-1]:
            starts = [i + j * s for i in starts for j in range(n)]
        for row, start in enumerate(starts):
            chunk = values[row * inner:(row + 1) * inner]
            if step == 1:
                data[start:start + inner] = chunk
            else:
                for j, v in enumerate(chunk):
                    data[start + j * step] = v
        self._box[0], self._box[1] = data, None

    def _set(self, data):
        self._box[0], self._box[1] = self._store(data), None

    # -- reductions
    def _reduce(self, fn, axis, keepdims, t=None, empty=None):
        t = self.dtype if t is None else t
        axes = tuple(range(self.ndim)) if axis is None else tuple(
            a % self.ndim for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
        kept = [a for a in range(self.ndim) if a not in axes]
        out_shape = tuple(1 if a in axes else n for a, n in enumerate(self.shape)) if keepdims else tuple(
            self.shape[a] for a in kept)
        group = _size([self.shape[a] for a in axes])
        if group == 0 and empty is None:
            raise ValueError("zero-size array to reduction operation which has no identity")
        uniform, value = self._uniform()
        if uniform and self.size:
            return _full(out_shape, _scalar(fn([value] * group), t), t)
        moved = self.transpose(kept + list(axes))._flat() if axes else self._flat()
        values = [fn(moved[i:i + group]) if group else empty for i in range(0, _size(out_shape) * group or
                                                                          _size(out_shape), group or 1)]
        return ndarray(out_shape, t, _convert(values, t))

    def sum(self, axis=None, dtype=None, keepdims=False):
        t = _dtype_of(dtype) if dtype is not None else (_D["int64"] if self.dtype.kind in "bi" and self.dtype.itemsize < 8
                                                         or self.dtype.kind == "b" else self.dtype)
        return self._reduce(lambda v: math.fsum(v) if t.kind == "f" else _b.sum(int(x) for x in v), axis, keepdims, t, 0)

    def prod(self, axis=None, dtype=None, keepdims=False):
        t = _dtype_of(dtype) if dtype is not None else (_D["int64"] if self.dtype.kind in "bi" and self.dtype.itemsize < 8
                                                         or self.dtype.kind == "b" else self.dtype)
        return self._reduce(lambda v: math.prod(v), axis, keepdims, t, 1)

    def mean(self, axis=None, dtype=None, keepdims=False):
        t = _dtype_of(dtype) if dtype is not None else (self.dtype if self.dtype.kind == "f" else _D["float64"])
        return self._reduce(lambda v: math.fsum(v) / len(v) if len(v) else nan, axis, keepdims, t, nan)

    def max(self, axis=None, keepdims=False, initial=None):
        return self._reduce(_nan_max, axis, keepdims, empty=initial)

    def min(self, axis=None, keepdims=False, initial=None):
        return self._reduce(_nan_min, axis, keepdims, empty=initial)

    def any(self, axis=None, keepdims=False):
        return self._reduce(_b.any, axis, keepdims, _D["bool"], False)

    def all(self, axis=None, keepdims=False):
        return self._reduce(_b.all, axis, keepdims, _D["bool"], True)

    def argmax(self, axis=None, keepdims=False):
        return _arg(self, axis, keepdims, _b.max)

    def argmin(self, axis=None, keepdims=False):
        return _arg(self, axis, keepdims, _b.min)

    def cumsum(self, axis=None):
        return cumsum(self, axis)

    # -- arithmetic
    def __add__(self, o): return _binary(_add, self, o)
    def __radd__(self, o): return _binary(_add, o, self)
    def __sub__(self, o): return _binary(_sub, self, o)
    def __rsub__(self, o): return _binary(_sub, o, self)
    def __mul__(self, o): return _binary(_mul, self, o)
    def __rmul__(self, o): return _binary(_mul, o, self)
    def __truediv__(self, o): return divide(self, o)
    def __rtruediv__(self, o): return divide(o, self)
    def __floordiv__(self, o): return floor_divide(self, o)
    def __rfloordiv__(self, o): return floor_divide(o, self)
    def __mod__(self, o): return mod(self, o)
    def __rmod__(self, o): return mod(o, self)
    def __pow__(self, o): return power(self, o)
    def __rpow__(self, o): return power(o, self)
    def __neg__(self): return negative(self)
    def __pos__(self): return self.copy()
    def __abs__(self): return absolute(self)
    def __invert__(self): return invert(self)
    def __and__(self, o): return _bitwise(lambda a, b: a & b, self, o)
    def __rand__(self, o): return _bitwise(lambda a, b: a & b, o, self)
    def __or__(self, o): return _bitwise(lambda a, b: a | b, self, o)
    def __ror__(self, o): return _bitwise(lambda a, b: a | b, o, self)
    def __xor__(self, o): return _bitwise(lambda a, b: a ^ b, self, o)
    def __rxor__(self, o): return _bitwise(lambda a, b: a ^ b, o, self)
    def __lshift__(self, o): return _binary(lambda a, b: a << b, self, o)
    def __rshift__(self, o): return _binary(lambda a, b: a >> b, self, o)
    def __eq__(self, o): return _compare(lambda a, b: a == b, self, o)
    def __ne__(self, o): return _compare(lambda a, b: a != b, self, o)
    def __lt__(self, o): return _compare(lambda a, b: a < b, self, o)
    def __le__(self, o): return _compare(lambda a, b: a <= b, self, o)
    def __gt__(self, o): return _compare(lambda a, b: a > b, self, o)
    def __ge__(self, o): return _compare(lambda a, b: a >= b, self, o)


def _full(shape, value, t) -> ndarray:
    return ndarray(shape, t, None, value)


def _nan_max(values):
    out = None
    for v in values:
        if v != v:
            return v
        if out is None or v > out:
            out = v
    return out


def _nan_min(values):
    out = None
    for v in values:
        if v != v:
            return v
        if out is None or v < out:
            out = v
    return out


def _arg(a: ndarray, axis, keepdims, pick):
    if axis is None:
        flat = list(a._flat())
        return int64(flat.index(pick(flat)))
    axis %= a.ndim
    moved = moveaxis(a, axis, -1)
    n = a.shape[axis]
    flat = list(moved._flat())
    values = [row.index(pick(row)) for row in (flat[i:i + n] for i in range(0, len(flat), n))]
    out = asarray(values, "int64").reshape(moved.shape[:-1])
    return expand_dims(out, axis) if keepdims else out


# ---- construction -------------------------------------------------------------------------

def _infer(obj):
    """(shape, flat values, dtype) of nested Python sequences and scalars."""
    if isinstance(obj, ndarray):
        return obj.shape, obj._flat(), obj.dtype
    if isinstance(obj, (list, tuple)):
        if not obj:
            return (0,), [], _D["float64"]
        parts = [_infer(o) for o in obj]
        shape = parts[0][0]
        if _b.any(p[0] != shape for p in parts):
            raise ValueError("setting an array element with a sequence: the nested lists are ragged")
        flat = [v for p in parts for v in p[1]]
        t = parts[0][2]
        for p in parts[1:]:
            t = _promote(t, p[2])
        return (len(obj),) + shape, flat, t
    if isinstance(obj, (bytes, bytearray, memoryview)):
        raise TypeError("bytes are not an array; use frombuffer")
    kind = _python_kind(obj)
    if kind is None:
        return (), [obj], _D["object"]
    return (), [obj], _D[{"b": "bool", "i": "int64", "f": "float64"}[kind]]


def array(obj, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(obj, ndarray) and dtype is None:
        out = obj.copy() if copy else obj
    else:
        shape, flat, t = _infer(obj)
        if isinstance(obj, ndarray) and obj._data is None:
            out = ndarray(shape, t, None, obj._fill)
        else:
            out = ndarray(shape, t, _convert(flat, t) if t.code is not None or t.kind == "b" else list(flat))
        if dtype is not None:
            out = out.astype(dtype, copy=False)
    while out.ndim < ndmin:
        out = out.reshape((1,) + out.shape)
    return out


def asarray(obj, dtype=None, order=None):
    if isinstance(obj, ndarray) and (dtype is None or _dtype_of(dtype) is obj.dtype):
        return obj
    if isinstance(obj, _ScalarType):
        raise TypeError("a type is not an array")
    return array(obj, dtype)


ascontiguousarray = asarray


def frombuffer(data, dtype=float, count=-1, offset=0) -> ndarray:
    t = _dtype_of(dtype)
    raw = bytes(data[offset:] if offset else data)
    n = len(raw) // t.itemsize if count < 0 else count
    raw = raw[:n * t.itemsize]
    if t.name == "float16":
        return ndarray((n,), t, _buffer("f", struct.unpack(f"<{n}e", raw)))
    if t.kind == "b":
        return ndarray((n,), t, [b != 0 for b in raw])
    buf = _buffer(t.code)
    buf.frombytes(raw)
    return ndarray((n,), t, buf)


def zeros(shape, dtype=float, order="C"):
    t = _dtype_of(dtype)
    return _full(_normalize_shape(shape), _scalar(0, t), t)


def ones(shape, dtype=float, order="C"):
    t = _dtype_of(dtype)
    return _full(_normalize_shape(shape), _scalar(1, t), t)


empty = zeros


def full(shape, fill_value, dtype=None, order="C"):
    t = result_type(fill_value) if dtype is None else _dtype_of(dtype)
    return _full(_normalize_shape(shape), _scalar(asarray(fill_value).item(), t), t)


def zeros_like(a, dtype=None):
    return zeros(asarray(a).shape, asarray(a).dtype if dtype is None else dtype)


def ones_like(a, dtype=None):
    return ones(asarray(a).shape, asarray(a).dtype if dtype is None else dtype)


def full_like(a, value, dtype=None):
    return full(asarray(a).shape, value, asarray(a).dtype if dtype is None else dtype)


def arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    start, stop, step = (v.item() if isinstance(v, ndarray) else v for v in (start, stop, step))
    t = result_type(start, stop, step) if dtype is None else _dtype_of(dtype)
    if t.kind == "f" or _b.any(isinstance(v, float) for v in (start, stop, step)):
        n = _b.max(0, math.ceil((stop - start) / step))
        values = [start + i * step for i in range(n)]
    else:
        values = list(range(int(start), int(stop), int(step)))
    return ndarray((len(values),), t, _convert(values, t))


def indices(dimensions, dtype=int):
    dims = tuple(dimensions)
    grids = [arange(n, dtype=dtype).reshape([n if i == a else 1 for i in range(len(dims))]) for a, n in enumerate(dims)]
    return stack([broadcast_to(g, dims) for g in grids])


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
