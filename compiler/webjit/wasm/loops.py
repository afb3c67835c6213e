"""Small code-building helpers shared by the WASM kernel generators: loops and thread shares."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from webjit.wasm.encoder import I32, Func


@dataclass(frozen=True)
class Local:
    """An i32 value known only at run time, held in local `index` (plain ints are constants)."""
    index: int


Count = int | Local


def push(f: Func, value: Count) -> None:
    """Push an i32 that is a compile-time constant or a local."""
    if isinstance(value, Local):
        f.op("local.get", value.index)
    else:
        f.op("i32.const", value)


def add_to(f: Func, local: int, amount: Count) -> None:
    """local += amount (no code when amount is the constant 0)."""
    if isinstance(amount, Local) or amount:
        f.op("local.get", local)
        push(f, amount)
        f.op("i32.add")
        f.op("local.set", local)


def set_linear(f: Func, dst: int, base: int | None, const: int, terms=()) -> None:
    """dst = base + const + sum(local * scale) over `terms` (base None: 0); no code for zero parts."""
    if base is None:
        f.op("i32.const", const)
    else:
        f.op("local.get", base)
        if const:
            f.op("i32.const", const)
            f.op("i32.add")
    for local, scale in terms:
        if scale == 0:
            continue
        f.op("local.get", local)
        if scale != 1:
            f.op("i32.const", scale)
            f.op("i32.mul")
        f.op("i32.add")
    f.op("local.set", dst)


def set_local(f: Func, local: int, value: Count) -> None:
    push(f, value)
    f.op("local.set", local)


@contextmanager
def counted_loop(f: Func, count: Count, step: int = 1):
    """Run the body count/step times (count a multiple of step); nothing when count is 0.

    The body always sits inside exactly two labels (block, loop), whatever the count,
    so branch depths written inside it do not depend on the count.
    """
    if isinstance(count, int) and (count <= 0 or count == step):
        # Constant zero or one pass: no counter, and the loop never branches back.
        f.op("block")
        if count <= 0:
            f.op("br", 0)  # the body below is unreachable
        f.op("loop")
        yield
        f.op("end")
        f.op("end")
        return
    left = f.local(I32)
    f.op("block")
    if isinstance(count, Local):
        push(f, count)
        f.op("i32.eqz")
        f.op("br_if", 0)
    set_local(f, left, count)
    f.op("loop")
    yield
    f.op("local.get", left)
    f.op("i32.const", step)
    f.op("i32.sub")
    f.op("local.tee", left)
    f.op("br_if", 0)
    f.op("end")
    f.op("end")


def thread_share(f: Func, total: Count, tid: int, nthreads: int, align: int = 1) -> tuple[Local, Local]:
    """This thread's contiguous share [start, start + count) of `total` items (a constant, or
    a local known at run time).

    Shares are multiples of `align` items (except the last); a thread with no items
    returns from the function at once. Returns (start, count) locals.
    """
    chunk, start, count = f.local(I32), f.local(I32), f.local(I32)
    # chunk = round_up(ceil(total / nthreads), align)
    push(f, total)
    f.op("local.get", nthreads)
    f.op("i32.add")
    f.op("i32.const", 1)
    f.op("i32.sub")
    f.op("local.get", nthreads)
    f.op("i32.div_u")
    if align > 1:
        f.op("i32.const", align - 1)
        f.op("i32.add")
        f.op("i32.const", -align)
        f.op("i32.and")
    f.op("local.tee", chunk)
    f.op("local.get", tid)
    f.op("i32.mul")
    f.op("local.tee", start)
    push(f, total)
    f.op("i32.ge_u")
    f.op("if")
    f.op("return")
    f.op("end")
    # count = min(chunk, total - start)
    f.op("local.get", chunk)
    push(f, total)
    f.op("local.get", start)
    f.op("i32.sub")
    f.op("local.get", chunk)
    push(f, total)
    f.op("local.get", start)
    f.op("i32.sub")
    f.op("i32.lt_u")
    f.op("select")
    f.op("local.set", count)
    return Local(start), Local(count)


def divmod_into(f: Func, value: Local, divisor: int, quotient: int, remainder: int) -> None:
    """quotient, remainder = divmod(value, divisor) (unsigned), into two locals."""
    f.op("local.get", value.index)
    f.op("i32.const", divisor)
    f.op("i32.div_u")
    f.op("local.set", quotient)
    f.op("local.get", value.index)
    f.op("i32.const", divisor)
    f.op("i32.rem_u")
    f.op("local.set", remainder)
