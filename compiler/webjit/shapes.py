"""The static shape of every model input, from per-input shapes (`--shape NAME=1x128`,
`shapes=`) and named dimensions (`--dim seq=128`, `dims=`), checked against what the model
declares before import. Every input and dimension still unknown is reported at once, in the
words of the caller: the CLI's flags or the Python API's keyword arguments."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ShapeError
from .symbolic import Dim, Sym

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class Words:
    shape: str  # how the caller names a per-input shape
    dim: str    # how the caller names a dimension's size

    def shape_of(self, name: str, dims: str) -> str:
        return f"{self.shape} {name}={dims}" if self.shape.startswith("--") else f"{self.shape}{{'{name}': ({dims.replace('x', ', ')})}}"

    def dims_of(self, names) -> str:
        if self.dim.startswith("--"):
            return " ".join(f"{self.dim} {name}=N" for name in names)
        return self.dim + "{" + ", ".join(f"'{name}': N" for name in names) + "}"


CLI = Words("--shape", "--dim")
PYTHON = Words("shapes=", "dims=")


def declared_dims(value: onnx.ValueInfoProto) -> list:
    """An input's dimensions as the model declares them: ints, names, or None (unnamed or -1)."""
    dims = []
    for d in value.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return dims


def input_shapes(proto: onnx.ModelProto, shapes: Mapping | None = None, dims: Mapping | None = None,
                 bound: Mapping | None = None, words: Words = PYTHON) -> dict[str, tuple[int, ...]]:
    """Every runtime input's shape: `shapes` where given, else the declared dimensions with
    named ones taken from `dims` or from a given shape that has the same dimension name (ONNX
    names a size, so inputs sharing a name share the size). Inputs that are initializers or
    `bound` (--const) are left to the import. Raises one ShapeError listing everything still
    unknown, or naming both sources of a size that disagree."""
    shapes, dims = dict(shapes or {}), dict(dims or {})
    constants = {t.name for t in proto.graph.initializer} | set(bound or {})
    inputs = {v.name: v for v in proto.graph.input if v.name not in constants}
    unknown = sorted(set(shapes) - set(inputs))
    if unknown:
        raise ShapeError(f"{words.shape} names {', '.join(unknown)}, which the model does not have as inputs "
                         f"(its inputs are {', '.join(inputs) or 'none'})")
    names = {d for v in inputs.values() for d in declared_dims(v) if isinstance(d, str)}
    unused = sorted(set(dims) - names)
    if unused:
        raise ShapeError(f"{words.dim} names {', '.join(unused)}, which no model input has as a dimension "
                         f"(the named dimensions are {', '.join(sorted(names)) or 'none'})")
    for name, size in dims.items():
        if isinstance(size, (str, Sym)):
            continue  # a sum or product of other dimensions, resolved once they have sizes
        if isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) for v in size):
            if not 0 <= size[0] <= size[1]:
                raise ShapeError(f"{words.dim} gives dimension {name!r} the range {size[0]}..{size[1]}; a range "
                                 f"needs 0 <= LO <= HI")
            dims[name] = size[0] if size[0] == size[1] else Sym.of(Dim(name, *size))
        elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ShapeError(f"{words.dim} gives dimension {name!r} the size {size!r}; a size is a whole number of 0 "
                             f"or more, or a range (LO, HI)")
    for name, size in dims.items():
        if isinstance(size, (str, Sym)):
            dims[name] = _derived(name, size, dims, words)
    resolved, named, unnamed = {}, {}, []
    sources = {d: f"{words.dim} {d}={size}" if words.dim.startswith("--") else f"{words.dim}{{'{d}': {size}}}"
               for d, size in dims.items()}
    for name in shapes:  # a named dimension of a given shape sizes that dimension for every input
        resolved[name] = _checked(name, tuple(shapes[name]), declared_dims(inputs[name]), words)
        for d, size in zip(declared_dims(inputs[name]), resolved[name]):
            if not isinstance(d, str):
                continue
            given = f"{words.shape_of(name, 'x'.join(map(str, resolved[name])))}"
            if d in dims and dims[d] != size:
                raise ShapeError(f"{given} makes dimension {d!r} {size}, but {sources[d]} makes it {dims[d]}")
            dims.setdefault(d, size)
            sources.setdefault(d, given)
    for name, value in inputs.items():
        declared = declared_dims(value)
        if name in shapes:
            continue
        filled = [dims.get(d, d) if isinstance(d, str) else d for d in declared]
        if all(isinstance(d, (int, Sym)) for d in filled):
            resolved[name] = tuple(filled)
        elif None in filled:
            unnamed.append((name, filled))
        else:
            for d in filled:
                if isinstance(d, str):
                    named.setdefault(d, {})[name] = filled
    if named or unnamed:
        raise ShapeError(_missing_text(named, unnamed, words))
    return resolved


def _derived(name: str, size, dims: dict, words: Words):
    """A dimension given as a polynomial of others (`--dim total=past+seq`): the Sym it is, so
    the compiler knows the relation instead of treating it as a size of its own."""
    if isinstance(size, Sym):
        return size
    value = 0
    for term in size.replace(" ", "").split("+"):
        product = 1
        for factor in term.split("*"):
            if factor.isdigit():
                product = product * int(factor)
            elif isinstance(dims.get(factor), (int, Sym)) and factor != name:
                product = product * dims[factor]
            else:
                raise ShapeError(f"{words.dim} gives dimension {name!r} the size {size!r}; a derived size is a sum of "
                                 f"products of whole numbers and other dimensions given a size or range "
                                 f"(e.g. total=past_sequence+sequence), and {factor!r} is not one")
        value = value + product
    return value


def _missing_text(named: dict, unnamed: list, words: Words) -> str:
    """One sentence naming every dimension and input still without a size, and how to give them."""
    example = lambda filled: "x".join(str(d) if isinstance(d, int) else "N" for d in filled)
    parts = []
    if named:
        users = {i: filled for found in named.values() for i, filled in found.items()}
        first = next(iter(users))
        parts.append(f"dimension(s) {', '.join(named)} of input(s) {', '.join(repr(u) for u in sorted(users))} have no "
                     f"size: give {words.dims_of(named)}, or each input's whole shape, e.g. "
                     f"{words.shape_of(first, example(users[first]))}")
    for name, filled in unnamed:
        shown = "x".join(str(d) if d is not None else "?" for d in filled)
        parts.append(f"input '{name}' ({shown}) has unnamed dynamic dimensions: give {words.shape_of(name, example(filled))}")
    return "; ".join(parts)


def _checked(name: str, given: tuple, declared: list, words: Words) -> tuple[int, ...]:
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in given):
        raise ShapeError(f"{words.shape} gives input '{name}' the shape {given!r}; dimensions are whole numbers")
    text = lambda dims: "x".join(str(d) if d is not None else "?" for d in dims)
    if len(given) != len(declared):
        raise ShapeError(f"{words.shape} gives input '{name}' {len(given)} dimensions but the model declares "
                         f"{len(declared)} ({text(declared)})")
    for d, g in zip(declared, given):
        if isinstance(d, int) and d != g:
            raise ShapeError(f"{words.shape} gives input '{name}' shape {text(given)} but the model fixes it to "
                             f"{text(declared)}")
    if any(g < 0 for g in given):
        raise ShapeError(f"{words.shape} for input '{name}' must have dimensions of 0 or more")
    return tuple(int(g) for g in given)
