"""Symbolic sizes in WASM kernels: a spec compiled for a range of sizes (symbolic.py) reads
them from its `sizes` argument, an i32 per dimension that the runtime writes before a run.

`Sizes.count(value)` gives what the loop helpers take: an int stays an immediate, a Sym
becomes a local computed once in a prologue that runs before the kernel body (the
prologue is spliced in front by `finish`, so generators may ask for a size anywhere,
even inside a loop or a branch, and still read a value set on every path).
"""
from __future__ import annotations

from webjit.symbolic import Sym, SymbolicError
from webjit.wasm.encoder import I32, Func
from webjit.wasm.loops import Count, Local


class Sizes:
    def __init__(self, f: Func, spec):
        self.f = f
        self.arg = spec.sizes
        self.names = [d[0] for d in spec.dims]
        self.prologue = Func(0, None, [], [])  # an encoder only: its ops run first in `f`
        self.cache: dict = {}
        self.loaded: dict[str, int] = {}

    def count(self, value) -> Count:
        """`value` (an int or a Sym) as an immediate or as a local holding it."""
        if not isinstance(value, Sym):
            return int(value)
        if value in self.cache:
            return self.cache[value]
        names = value.names()
        for name in names:
            self._load(name)
        p, local = self.prologue, self.f.local(I32)
        for i, (monomial, coef) in enumerate(value.terms):
            if monomial:
                for j, name in enumerate(monomial):
                    p.op("local.get", self.loaded[name])
                    if j:
                        p.op("i32.mul")
                if coef != 1:
                    p.op("i32.const", coef)
                    p.op("i32.mul")
            else:
                p.op("i32.const", coef)
            if i:
                p.op("i32.add")
        p.op("local.set", local)
        self.cache[value] = Local(local)
        return self.cache[value]

    def derived(self, key: str, value, parts: list, ops: list[tuple]) -> Count:
        """A local set in the prologue from `parts` (sizes pushed in order) and then `ops`;
        cached under (key, value). For values that are no polynomial, e.g. ceil(m / mr)."""
        if (key, value) in self.cache:
            return self.cache[(key, value)]
        counts = [self.count(p) for p in parts]  # their own prologue code comes first
        local = self.f.local(I32)
        for c in counts:
            if isinstance(c, Local):
                self.prologue.op("local.get", c.index)
            else:
                self.prologue.op("i32.const", c)
        for op in ops:
            self.prologue.op(*op)
        self.prologue.op("local.set", local)
        self.cache[(key, value)] = Local(local)
        return self.cache[(key, value)]

    def ceil_div(self, value, k: int) -> Count:
        """ceil(value / k) for a size `value` >= 0."""
        if not isinstance(value, Sym):
            return -(-int(value) // k)
        return self.derived(f"ceil/{k}", value, [value], [("i32.const", k - 1), ("i32.add",), ("i32.const", k),
                                                           ("i32.div_u",)])

    def _load(self, name: str) -> None:
        if name in self.loaded:
            return
        if self.arg is None or name not in self.names:
            raise SymbolicError(f"internal error: a kernel uses the symbolic size {name!r} but has no sizes argument for it")
        local = self.f.local(I32)
        self.prologue.op("local.get", self.arg)
        self.prologue.op("i32.load", 4 * self.names.index(name))
        self.prologue.op("local.set", local)
        self.loaded[name] = local

    def push(self, value) -> None:
        """Push `value` as an i32."""
        count = self.count(value)
        if isinstance(count, Local):
            self.f.op("local.get", count.index)
        else:
            self.f.op("i32.const", count)

    def finish(self) -> None:
        """Splice the prologue in front of the body; call once, after the body is written."""
        self.f.code[:0] = self.prologue.code
        self.f.instrs[:0] = self.prologue.instrs


class NoSizes(Sizes):
    """For specs without symbolic sizes: every size is an immediate, so there is no prologue."""

    def __init__(self, f: Func):
        self.f = f
        self.arg, self.names, self.cache, self.loaded = None, [], {}, {}

    def derived(self, key: str, value, parts: list, ops: list[tuple]) -> Count:
        raise SymbolicError(f"internal error: a kernel without symbolic sizes asked for the derived size {key!r}")

    def finish(self) -> None:
        pass


def sizes_of(f: Func, spec) -> Sizes:
    return Sizes(f, spec) if getattr(spec, "dims", ()) else NoSizes(f)
