"""A small helper for decompositions written in code: nodes with fresh names, constants."""
from __future__ import annotations

from .ir import Graph, Node, TensorType
from .nplike import np


class Emit:
    """Collects the nodes of one decomposition, each with a fresh output name."""

    def __init__(self, node: Node, graph: Graph):
        self.node, self.graph, self.parts = node, graph, []

    def const(self, value) -> str:
        value = np.asarray(value)
        name = f"{self.node.name}::c{len(self.graph.constants)}"
        self.graph.constants[name] = value
        self.graph.types[name] = TensorType(str(value.dtype), tuple(value.shape))
        return name

    def __call__(self, op: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or f"{self.node.name}::{op.lower()}{len(self.parts)}"
        self.parts.append(Node(op, out, tuple(inputs), (out,), attrs))
        return out

    def slice(self, x: str, start: int, end: int, axis: int = -1) -> str:
        return self("Slice", x, self.const(np.array([start], np.int64)), self.const(np.array([end], np.int64)),
                    self.const(np.array([axis], np.int64)))

    def pick(self, x: str, index: int, axis: int = 0) -> str:
        return self("Gather", x, self.const(np.array(index, np.int64)), axis=axis)

    def stack(self, names: list[str], axis: int) -> str:
        axes = self.const(np.array([axis], np.int64))
        pieces = [self("Unsqueeze", name, axes) for name in names]
        return pieces[0] if len(pieces) == 1 else self("Concat", *pieces, axis=axis)
