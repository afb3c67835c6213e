"""The Graph IR: named tensors with static types, nodes in topological order, constants."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import CompileError
from .nplike import np

DTYPES = ("float32", "int32", "int64", "bool", "float64", "int8", "uint8", "float16", "int16", "uint16")


@dataclass(frozen=True)
class TensorType:
    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        out = 1
        for n in self.shape:
            out = out * n
        return out

    def __str__(self) -> str:
        return f"{self.dtype}[{'x'.join(map(str, self.shape))}]"


@dataclass(frozen=True)
class Node:
    op: str
    name: str
    inputs: tuple[str, ...]  # "" marks an omitted optional input
    outputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict, hash=False, compare=False)

    def __str__(self) -> str:
        attrs = "".join(f" {k}={_attr_text(v)}" for k, v in sorted(self.attrs.items()))
        return f"{', '.join(self.outputs)} = {self.op}({', '.join(self.inputs)}){attrs}  # {self.name}"


@dataclass
class Graph:
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node]
    types: dict[str, TensorType]
    constants: dict[str, np.ndarray]

    def producer(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    users.setdefault(name, []).append(node)
        return users

    def to_text(self) -> str:
        lines = [f"input {n}: {self.types[n]}" for n in self.inputs]
        for name, value in self.constants.items():
            lines.append(f"const {name}: {self.types[name]}{_const_preview(value)}")
        lines += [str(node) for node in self.nodes]
        lines += [f"output {n}: {self.types[n]}" for n in self.outputs]
        return "\n".join(lines) + "\n"

    def verify(self) -> None:
        """Every tensor is typed and defined before use, once; outputs are defined."""
        defined = set(self.inputs) | set(self.constants)
        for name in defined:
            if name not in self.types:
                raise CompileError(f"internal error: tensor '{name}' has no type")
        for node in self.nodes:
            for name in node.inputs:
                if name and name not in defined:
                    raise CompileError(f"internal error: node '{node.name}' reads '{name}' before it is defined")
            for name in node.outputs:
                if name in defined:
                    raise CompileError(f"internal error: tensor '{name}' is defined twice")
                if name not in self.types:
                    raise CompileError(f"internal error: tensor '{name}' has no type")
                defined.add(name)
        for name in self.outputs:
            if name not in defined:
                raise CompileError(f"internal error: output '{name}' is never defined")
        for name, value in self.constants.items():
            t = self.types[name]
            dtype = "int64" if value.dtype == object else str(value.dtype)  # a shape holding symbolic sizes
            if tuple(value.shape) != t.shape or dtype != t.dtype:
                raise CompileError(f"internal error: constant '{name}' is {value.dtype}{list(value.shape)}, typed {t}")


def _attr_text(value) -> str:
    if isinstance(value, np.ndarray):
        return f"tensor<{value.dtype}{list(value.shape)}>"
    if isinstance(value, float):
        return repr(float(np.float32(value)))
    return repr(value)


def _const_preview(value: np.ndarray) -> str:
    if value.size <= 8:
        return " = " + np.array2string(value.reshape(-1), separator=",", precision=6)
    return ""
