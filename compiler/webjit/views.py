"""Buffers and strided views over them: how lowering reads tensors without copying."""
from __future__ import annotations

from dataclasses import dataclass

from .nplike import np
from .symbolic import Sym, SymbolicError


@dataclass(frozen=True, eq=False)
class Buffer:
    """A device allocation: an arena tensor, a model input, or weights (data set)."""
    id: int
    name: str
    dtype: str  # "f32" | "i32"
    size: int  # elements
    region: str  # "arena" | "weights"
    data: np.ndarray | None = None
    rows: tuple[int, int] | None = None  # weights stored as rows of rows[0] values, rows[1] apart (zeros between)
    extent: object = None  # elements in use, when symbolic (a Sym; `size` is then its greatest value)

    @property
    def elements(self):
        """Elements in use: `size`, or the symbolic extent the sizes of a run decide."""
        return self.size if self.extent is None else self.extent


@dataclass(frozen=True)
class View:
    buffer: Buffer
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # elements; 0 broadcasts
    offset: int = 0

    @property
    def contiguous(self) -> bool:
        return self.offset == 0 and self.size == self.buffer.elements and _same_layout(self.shape, self.strides, row_major(self.shape))

    @property
    def size(self) -> int:
        return prod(self.shape)


def prod(values):
    """The product of sizes (ints, or symbolic sizes: symbolic.Sym)."""
    out = 1
    for v in values:
        out = out * v
    return out


def row_major(shape) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def _same_layout(shape, a, b) -> bool:
    return all(d == 1 or x == y for d, x, y in zip(shape, a, b))


def full_view(buffer: Buffer, shape) -> View:
    return View(buffer, tuple(shape), row_major(shape), 0)


def broadcast_strides(view: View, shape) -> tuple[int, ...]:
    """Strides that read `view` broadcast (numpy rules) to `shape`."""
    lead = len(shape) - len(view.shape)
    strides = [0] * lead
    for d, (n, s) in enumerate(zip(view.shape, view.strides)):
        strides.append(0 if n == 1 and shape[lead + d] != 1 else s)
    return tuple(strides)


def transpose(view: View, perm) -> View:
    return View(view.buffer, tuple(view.shape[p] for p in perm), tuple(view.strides[p] for p in perm), view.offset)


def expand(view: View, shape) -> View:
    return View(view.buffer, tuple(shape), broadcast_strides(view, shape), view.offset)


def slice_view(view: View, axis: int, start: int, length: int, step: int = 1) -> View:
    shape, strides = list(view.shape), list(view.strides)
    offset = view.offset + start * strides[axis]
    shape[axis], strides[axis] = length, strides[axis] * step
    return View(view.buffer, tuple(shape), tuple(strides), offset)


def reshape_strides(shape, strides, new_shape) -> tuple[int, ...] | None:
    """Strides reading a strided tensor as `new_shape` without copying, or None if impossible."""
    old = [(n, s) for n, s in zip(shape, strides) if n != 1]
    new_dims = [n for n in new_shape]
    result = [0] * len(new_dims)
    i = 0  # position in old
    j = 0  # position in new
    while j < len(new_dims):
        if new_dims[j] == 1:
            result[j] = 0
            j += 1
            continue
        if i >= len(old):
            return None
        # Group old dims [i, i2) and new dims [j, j2) of equal product.
        old_prod, new_prod = old[i][0], new_dims[j]
        i2, j2 = i + 1, j + 1
        while old_prod != new_prod:
            if _grows(old_prod, new_prod):
                if i2 >= len(old):
                    return None
                old_prod *= old[i2][0]
                i2 += 1
            else:
                if j2 >= len(new_dims):
                    return None
                new_prod *= new_dims[j2]
                j2 += 1
        for k in range(i, i2 - 1):  # the old group must be one strided run
            if old[k][1] != old[k + 1][1] * old[k + 1][0]:
                return None
        stride = old[i2 - 1][1]
        for k in range(j2 - 1, j - 1, -1):
            if new_dims[k] == 1:
                result[k] = 0
                continue
            result[k] = stride
            stride *= new_dims[k]
        i, j = i2, j2
    if i != len(old):
        return None
    return tuple(result)


def _grows(old, new) -> bool:
    """Whether the old group of dims must take in more to reach the new group's product. With
    symbolic sizes, by exact division: the old product divides the new one (or the reverse)."""
    if not isinstance(old, Sym) and not isinstance(new, Sym):
        return old < new
    for a, b, answer in ((old, new, True), (new, old, False)):
        try:
            b // a
            return answer
        except SymbolicError:
            pass
    raise SymbolicError(f"webjit cannot reshape across the sizes {old} and {new}, neither a multiple of the other")


def reshape(view: View, new_shape) -> View | None:
    if prod(new_shape) != view.size:
        return None
    if view.size == 0:  # nothing to read: any layout will do
        return View(view.buffer, tuple(new_shape), row_major(new_shape), 0)
    strides = reshape_strides(view.shape, view.strides, tuple(new_shape))
    if strides is None:
        return None
    return View(view.buffer, tuple(new_shape), strides, view.offset)


def read_constant(view: View) -> np.ndarray:
    """The values a view over a weights buffer reads, as a contiguous array."""
    flat = view.buffer.data.reshape(-1)
    itemsize = flat.itemsize
    strided = np.lib.stride_tricks.as_strided(flat[view.offset:], view.shape, tuple(s * itemsize for s in view.strides))
    return np.array(strided, order="C")
