"""Index arithmetic shared by the sliding-window generators (Im2Col, Pool): mixed-radix row
splits, the range of window taps inside the image, and four strided floats as one v128.

`load_strided4` reads only the four floats it returns (never one past the last), so a
vector whose taps are all inside the image never touches memory outside it.
"""
from __future__ import annotations

from .encoder import I32, Func

# Lanes 0 and 2 of the first operand, then lanes 1 and 3 of the second: with the operands
# loaded at p and p + 12 bytes, the floats at p, p + 8, p + 16, p + 24 (stride 2).
EVEN_LANES = (*range(0, 4), *range(8, 12), *range(20, 24), *range(28, 32))


def load_strided4(f: Func, ptr: int, offset: int, stride: int) -> None:
    """Push the v128 [x[0], x[s], x[2s], x[3s]] of the floats at ptr + offset (byte offset >= 0)."""
    f.op("local.get", ptr)
    if stride == 1:
        f.op("v128.load", offset)
        return
    if stride == 2:  # two overlapping loads and one shuffle
        f.op("v128.load", offset)
        f.op("local.get", ptr)
        f.op("v128.load", offset + 12)
        f.op("i8x16.shuffle", *EVEN_LANES)
        return
    f.op("v128.load32_zero", offset)
    for lane in range(1, 4):
        f.op("local.get", ptr)
        f.op("f32.load", offset + 4 * stride * lane)
        f.op("f32x4.replace_lane", lane)


def split(f: Func, flat: int, dims, rest: int) -> None:
    """Mixed-radix split of `flat`: each (local, size) gets flat % size, innermost first;
    `rest` gets what is left."""
    f.op("local.get", flat)
    f.op("local.set", rest)
    for local, size in dims:
        f.op("local.get", rest)
        f.op("i32.const", size)
        f.op("i32.rem_u")
        f.op("local.set", local)
        f.op("local.get", rest)
        f.op("i32.const", size)
        f.op("i32.div_u")
        f.op("local.set", rest)


def ceil_div_clamped(f: Func, first: int, shift: int, step: int, limit: int) -> int:
    """A local: how many k in [0, limit) have first + k*step < -shift, i.e.
    clamp(ceil((-shift - first) / step), 0, limit)."""
    out = f.local(I32)
    f.op("i32.const", -shift + step - 1)
    f.op("local.get", first)
    f.op("i32.sub")
    f.op("i32.const", step)
    f.op("i32.div_s")  # truncation is the ceiling for positive numerators; others clamp to 0
    f.op("local.tee", out)
    f.op("i32.const", 0)
    f.op("local.get", out)
    f.op("i32.const", 0)
    f.op("i32.gt_s")
    f.op("select")
    f.op("local.tee", out)
    f.op("i32.const", limit)
    f.op("local.get", out)
    f.op("i32.const", limit)
    f.op("i32.lt_s")
    f.op("select")
    f.op("local.set", out)
    return out


def window_range(f: Func, first: int, step: int, size: int, limit: int) -> tuple[int, int]:
    """Locals (lo, hi): the k in [0, limit) with 0 <= first + k*step < size are [lo, hi)."""
    lo = ceil_div_clamped(f, first, 0, step, limit)
    hi = ceil_div_clamped(f, first, -size, step, limit)
    f.op("local.get", hi)
    f.op("local.get", lo)
    f.op("local.get", hi)
    f.op("local.get", lo)
    f.op("i32.gt_s")
    f.op("select")
    f.op("local.set", hi)  # hi = max(hi, lo): an empty range, never a negative one
    return lo, hi


def inside_columns(first: int, stride: int, span: int, width: int, count: int) -> tuple[int, int]:
    """Compile-time [lo, hi): the k in [0, count) whose taps first + k*stride + [0, span) all lie
    in [0, width) (an empty range is (lo, lo))."""
    lo = min(count, max(0, -(first // stride)))  # ceil(-first / stride)
    last = width - span - first  # k*stride <= last
    hi = min(count, last // stride + 1) if last >= 0 else 0
    return lo, max(lo, hi)


def loop_while_less(f: Func, counter: int, end: int, body) -> None:
    """while counter < end: body() (the body advances counter)."""
    f.op("block")
    f.op("loop")
    f.op("local.get", counter)
    f.op("local.get", end)
    f.op("i32.ge_s")
    f.op("br_if", 1)
    body()
    f.op("br", 0)
    f.op("end")
    f.op("end")


def while_at_least(f: Func, left: int, amount: int, body) -> None:
    """while left >= amount (signed): body(); left -= amount."""
    f.op("block")
    f.op("loop")
    f.op("local.get", left)
    f.op("i32.const", amount)
    f.op("i32.lt_s")
    f.op("br_if", 1)
    body()
    f.op("local.get", left)
    f.op("i32.const", -amount)
    f.op("i32.add")
    f.op("local.set", left)
    f.op("br", 0)
    f.op("end")
    f.op("end")
