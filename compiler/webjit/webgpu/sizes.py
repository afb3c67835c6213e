"""Symbolic sizes in WGSL kernels: a spec compiled for a range of sizes (symbolic.py) reads
them from its `sizes` argument, an i32 per dimension that the runtime writes before a run.

`WgslSizes.text(value)` is what a generator writes where it would write a number: an int
stays its literal text (so kernels without symbolic sizes keep their exact source), a Sym
becomes a module-scope `var<private>` set once per invocation by `prologue()`, the first
statements of `main` (generators may ask for a size anywhere, even in helper functions).

WGSL's uniformity analysis counts every private variable as non-uniform, so a size that
decides an early return before a barrier is written with `uniform_text` instead: read
straight from the sizes binding, which is read-only (the runtime binds a copy of the sizes
in a buffer of their own) and so uniform.
"""
from __future__ import annotations

from webjit.symbolic import Sym, SymbolicError


class WgslSizes:
    """The sizes one kernel asks for, as WGSL text; for a spec without `dims`, only ints."""

    def __init__(self, spec):
        self.arg = getattr(spec, "sizes", None)
        self.names = [d[0] for d in getattr(spec, "dims", ())]
        self.values: dict = {}  # key -> (private name, WGSL expression of the value)

    @property
    def symbolic(self) -> bool:
        return bool(self.names)

    def text(self, value) -> str:
        """`value` (an int or a Sym) as WGSL i32 text."""
        if not isinstance(value, Sym):
            return str(int(value))
        return self._private(value, self._polynomial(value))

    def uniform_text(self, value) -> str:
        """`value` as WGSL i32 text that the uniformity analysis sees as uniform."""
        if not isinstance(value, Sym):
            return str(int(value))
        return f"({self._polynomial(value, self._load)})"

    def uniform_groups(self, size, per: int, times: int = 1) -> str:
        """`times * ceil(size / per)` (a kernel's workgroup count) as uniform WGSL text."""
        count = f"({self.uniform_text(size)} + {per - 1}) / {per}" if per != 1 else self.uniform_text(size)
        return f"{times} * ({count})" if times != 1 else f"({count})"

    def ceil_div(self, value, k: int) -> str:
        """ceil(value / k) for a size `value` >= 0."""
        if not isinstance(value, Sym):
            return str(-(-int(value) // k))
        return self._private(("ceil", value, k), f"({self.text(value)} + {k - 1}) / {k}")

    def _polynomial(self, value: Sym, dim=None) -> str:
        terms = []
        for monomial, coef in value.terms:
            factors = [(dim or self._dim)(name) for name in monomial]
            if coef != 1 or not factors:
                factors.append(str(coef) if coef >= 0 else f"({coef})")
            terms.append(" * ".join(factors))
        return " + ".join(terms)

    def _dim(self, name: str) -> str:
        return self._private(("dim", name), self._load(name))

    def _load(self, name: str) -> str:
        if self.arg is None or name not in self.names:
            raise SymbolicError(f"internal error: a kernel uses the symbolic size {name!r} but has no sizes "
                                f"argument for it")
        return f"ld{self.arg}({self.names.index(name)})"

    def _private(self, key, expression: str) -> str:
        if key not in self.values:
            self.values[key] = (f"wj_n{len(self.values)}", expression)
        return self.values[key][0]

    def declarations(self) -> str:
        """Module-scope declarations of every size asked for (empty without symbolic sizes)."""
        return "".join(f"var<private> {name}: i32;\n" for name, _ in self.values.values())

    def prologue(self) -> str:
        """Statements computing every size asked for, in dependency order (the first of `main`)."""
        return "".join(f"  {name} = {expression};\n" for name, expression in self.values.values())
