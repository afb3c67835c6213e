"""purenp's n-d array (row-major storage shared by reshaped views, or one repeated value)
and the functions that make arrays."""
from __future__ import annotations

import builtins as _b
import math
import struct
from array import array as _buffer

from .dtypes import (_D, _ScalarType, _convert, _dtype_of, _gather, _normalize_shape, _promote, _python_kind,
                     _row_major, _scalar, _size, int64, nan, result_type)


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


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("annotations", "math", "struct", "product")]

# Last: the array's operators and methods call these, and their modules import this one's names.
from .elementwise import (_add, _binary, _bitwise, _compare, _mul, _sub, absolute, broadcast_arrays,  # noqa: E402
                          broadcast_to, divide, floor_divide, invert, mod, negative, power)
from .moves import cumsum, expand_dims, moveaxis, squeeze, stack, take  # noqa: E402
