"""Symbolic sizes: a dimension compiled for a range of sizes (`--dim seq=1..512`).

A `Sym` is a polynomial with integer coefficients over named dimensions, each with its
range (lo..hi). Shapes, strides, element counts and offsets may hold one wherever they
would hold an int, and arithmetic on them stays exact: `+`, `-`, `*`, and `//` or `%`
only where the result is a polynomial again. A result without a symbol is a plain int.

Nothing is ever guessed. A question about a Sym that its ranges do not decide (is
`seq > 1`?), or a use that needs a fixed number (`int(seq)`, `range(seq)`) raises
SymbolicError, one sentence naming the dimensions, so a stage that cannot handle a
symbolic size says so instead of specialising silently. Equality is structural: a Sym
never equals an int (so `seq == 1` is False even where seq may be 1); code that needs the
answer for the sizes the range holds asks `may_equal`.

The runtime evaluates the same polynomials from the manifest (`to_json`), never code.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import UnsupportedError


class SymbolicError(UnsupportedError):
    """A stage needs a fixed size where the model has a symbolic one."""


@dataclass(frozen=True)
class Dim:
    name: str
    lo: int
    hi: int


class Sym:
    """sum of coef * product(names) over `terms`; `dims` holds every name's range."""

    __slots__ = ("terms", "dims")

    def __init__(self, terms: dict[tuple[str, ...], int], dims: dict[str, Dim]):
        self.terms = tuple(sorted((m, c) for m, c in terms.items() if c))
        self.dims = dims

    # ---- construction and normal form

    @staticmethod
    def of(dim: Dim) -> "Sym":
        return Sym({(dim.name,): 1}, {dim.name: dim})

    @staticmethod
    def _make(terms: dict, dims: dict):
        terms = {m: c for m, c in terms.items() if c}
        if not terms:
            return 0
        if list(terms) == [()]:
            return terms[()]
        return Sym(terms, dims)

    def _dims_with(self, other) -> dict[str, Dim]:
        if not isinstance(other, Sym):
            return self.dims
        merged = dict(self.dims)
        for name, dim in other.dims.items():
            if merged.setdefault(name, dim) != dim:
                raise SymbolicError(f"the symbolic dimension {name!r} has two ranges ({merged[name].lo}..{merged[name].hi} "
                                    f"and {dim.lo}..{dim.hi})")
        return merged

    @staticmethod
    def _terms(value) -> dict[tuple[str, ...], int]:
        if isinstance(value, Sym):
            return dict(value.terms)
        return {(): _as_int(value)}

    # ---- arithmetic

    def __add__(self, other):
        if not _is_number(other):
            return NotImplemented
        terms = dict(self.terms)
        for m, c in Sym._terms(other).items():
            terms[m] = terms.get(m, 0) + c
        return Sym._make(terms, self._dims_with(other))

    __radd__ = __add__

    def __neg__(self):
        return Sym._make({m: -c for m, c in self.terms}, self.dims)

    def __sub__(self, other):
        if not _is_number(other):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other):
        if not _is_number(other):
            return NotImplemented
        return (-self) + other

    def __mul__(self, other):
        if not _is_number(other):
            return NotImplemented
        terms: dict[tuple[str, ...], int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in Sym._terms(other).items():
                m = tuple(sorted(m1 + m2))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Sym._make(terms, self._dims_with(other))

    __rmul__ = __mul__

    def __floordiv__(self, other):
        """Exact division only: by an int that divides every coefficient, or by a monomial
        (c * names) that divides every term."""
        if not _is_number(other):
            return NotImplemented
        divisor = Sym._terms(other)
        if len(divisor) != 1:
            raise SymbolicError(f"webjit cannot divide the symbolic size {self} by {other}")
        (dm, dc), = divisor.items()
        terms = {}
        for m, c in self.terms:
            rest = list(m)
            for name in dm:
                if name not in rest:
                    raise SymbolicError(f"the size {self} is not a whole multiple of {other} for every value of "
                                        f"{_names(self)}")
                rest.remove(name)
            if dc == 0 or c % dc:
                raise SymbolicError(f"the size {self} is not a whole multiple of {other} for every value of "
                                    f"{_names(self)}")
            terms[tuple(rest)] = c // dc
        return Sym._make(terms, self._dims_with(other))

    def __rfloordiv__(self, other):
        if not _is_number(other):
            return NotImplemented
        raise SymbolicError(f"webjit cannot divide {other} by the symbolic size {self}")

    def __mod__(self, other):
        if not _is_number(other):
            return NotImplemented
        self // other  # raises unless exact
        return 0

    def __rmod__(self, other):
        if not _is_number(other):
            return NotImplemented
        if other == 0:
            return 0
        raise SymbolicError(f"webjit cannot take {other} modulo the symbolic size {self}")

    def __truediv__(self, other):
        return self.__floordiv__(other)

    # ---- comparisons: structural equality, order by the ranges

    def __eq__(self, other):
        return isinstance(other, Sym) and self.terms == other.terms

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.terms)

    def bounds(self) -> tuple[int, int]:
        """The least and greatest value over the ranges (interval arithmetic: exact for the
        polynomials shapes make, whose coefficients are positive)."""
        lo_total = hi_total = 0
        for m, c in self.terms:
            lo, hi = 1, 1
            for name in m:
                d = self.dims[name]
                corners = (lo * d.lo, lo * d.hi, hi * d.lo, hi * d.hi)
                lo, hi = min(corners), max(corners)
            lo_total += min(c * lo, c * hi)
            hi_total += max(c * lo, c * hi)
        return lo_total, hi_total

    def _decide(self, other, op: str, holds) -> bool:
        lo, hi = (self - other).bounds() if isinstance(self - other, Sym) else ((self - other),) * 2
        always, never = holds(lo, hi)
        if always:
            return True
        if never:
            return False
        raise SymbolicError(f"whether {self} {op} {other} depends on the symbolic size of {_names(self)}; "
                            f"webjit would have to guess")

    def __lt__(self, other):
        if not _is_number(other):
            return NotImplemented
        return self._decide(other, "<", lambda lo, hi: (hi < 0, lo >= 0))

    def __le__(self, other):
        if not _is_number(other):
            return NotImplemented
        return self._decide(other, "<=", lambda lo, hi: (hi <= 0, lo > 0))

    def __gt__(self, other):
        if not _is_number(other):
            return NotImplemented
        return self._decide(other, ">", lambda lo, hi: (lo > 0, hi <= 0))

    def __ge__(self, other):
        if not _is_number(other):
            return NotImplemented
        return self._decide(other, ">=", lambda lo, hi: (lo >= 0, hi < 0))

    def __bool__(self):
        lo, hi = self.bounds()
        if lo > 0 or hi < 0:
            return True
        raise SymbolicError(f"whether {self} is zero depends on the symbolic size of {_names(self)}")

    def __int__(self):
        raise SymbolicError(f"a step needs the size {self} as a fixed number, and it depends on the symbolic "
                            f"dimension(s) {_names(self)}; webjit does not compile that step for a range of sizes "
                            f"yet (give {_names(self)} one size)")

    __index__ = __int__

    def __float__(self):
        return float(self.__int__())

    # ---- values and text

    def evaluate(self, env: dict[str, int]) -> int:
        total = 0
        for m, c in self.terms:
            v = c
            for name in m:
                v *= env[name]
            total += v
        return total

    def names(self) -> tuple[str, ...]:
        return tuple(sorted({n for m, _ in self.terms for n in m}))

    def __str__(self) -> str:
        parts = []
        for m, c in sorted(self.terms, key=lambda t: (-len(t[0]), t[0])):
            names = "*".join(m)
            if not names:
                parts.append(str(c))
            elif c == 1:
                parts.append(names)
            elif c == -1:
                parts.append("-" + names)
            else:
                parts.append(f"{c}*{names}")
        return "+".join(parts).replace("+-", "-")

    __repr__ = __str__

    def to_json(self) -> dict:
        return {"sym": [[c, list(m)] for m, c in self.terms]}


def _is_number(value) -> bool:
    return isinstance(value, (int, Sym)) or type(value).__name__.startswith("int")  # numpy ints too


def _as_int(value) -> int:
    return int(value)


def _names(value) -> str:
    names = value.names() if isinstance(value, Sym) else ()
    return ", ".join(repr(n) for n in names) or "none"


def is_symbolic(value) -> bool:
    """Whether a size, or any entry of a shape or tuple, holds a symbolic dimension."""
    if isinstance(value, Sym):
        return True
    if isinstance(value, (tuple, list)):
        return any(is_symbolic(v) for v in value)
    return False


def fixed(size, value: int) -> bool:
    """Whether a size is the constant `value` (a symbolic size never is, whatever its range)."""
    return not isinstance(size, Sym) and size == value


def upper(value) -> int:
    """The greatest value a size takes over the ranges (buffers are planned for it)."""
    return value.bounds()[1] if isinstance(value, Sym) else int(value)


def lower_bound(value) -> int:
    return value.bounds()[0] if isinstance(value, Sym) else int(value)


def evaluate(value, env: dict[str, int]) -> int:
    return value.evaluate(env) if isinstance(value, Sym) else int(value)


def may_equal(value, k: int) -> bool:
    """Whether a size can equal `k` for some value in its ranges (conservative: True when unsure)."""
    if not isinstance(value, Sym):
        return value == k
    lo, hi = value.bounds()
    return lo <= k <= hi


def size_json(value):
    """An int, or a Sym's polynomial as data the runtime evaluates."""
    return value.to_json() if isinstance(value, Sym) else int(value)


def size_from_json(value, dims: dict[str, Dim]):
    if isinstance(value, dict) and "sym" in value:
        terms = {}
        for c, m in value["sym"]:
            key = tuple(sorted(m))
            terms[key] = terms.get(key, 0) + int(c)
        return Sym._make(terms, {name: dims[name] for m in terms for name in m})
    return int(value)


def symbolic_fields(spec) -> list[str]:
    """The fields of a kernel spec (a dataclass) that hold a symbolic size anywhere."""
    return [name for name in spec.__dataclass_fields__ if name not in ("args", "dims")
            and _holds_sym(getattr(spec, name))]


def _holds_sym(value) -> bool:
    if isinstance(value, Sym):
        return True
    if isinstance(value, (tuple, list)):
        return any(_holds_sym(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return any(_holds_sym(getattr(value, f)) for f in value.__dataclass_fields__)
    return False


def graph_dims(graph) -> tuple[Dim, ...]:
    """The symbolic dimensions of a graph's inputs, sorted by name."""
    found: dict[str, Dim] = {}
    for name in graph.inputs:
        for d in graph.types[name].shape:
            if isinstance(d, Sym):
                found.update(d.dims)
    return tuple(found[n] for n in sorted(found))


def specialise(spec, env: dict[str, int]):
    """`spec` with every symbolic size replaced by its value at `env` (a size for each of its
    dimensions, within their ranges): a fixed-size spec with the same arguments (the sizes
    argument stays, unread), so its code can stand in for the symbolic kernel's while the
    sizes are these."""
    missing = [name for name, _, _ in spec.dims if name not in env]
    if missing:
        raise SymbolicError(f"specialising needs a size for {', '.join(missing)}")
    for name, lo, hi in spec.dims:
        if not lo <= env[name] <= hi:
            raise SymbolicError(f"{name}={env[name]} is outside its range {lo}..{hi}")
    return replace(_fixed(spec, env), dims=())


def _fixed(value, env):
    if isinstance(value, Sym):
        return value.evaluate(env)
    if isinstance(value, tuple):
        return tuple(_fixed(v, env) for v in value)
    if isinstance(value, list):
        return [_fixed(v, env) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        changed = {f: _fixed(getattr(value, f), env) for f in value.__dataclass_fields__ if f != "dims"}
        return replace(value, **changed)
    return value
