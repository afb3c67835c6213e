"""Graph passes: plain functions Graph -> Graph, run in the order of `PASSES`.

Fusion of elementwise chains into their producers happens in lower.py, where buffers
and views are known; these passes only simplify the graph it starts from.
"""
from __future__ import annotations

from .frontend import FOLD_GROWTH_LIMIT, evaluate
from .ir import Graph, Node, TensorType
from .symbolic import is_symbolic

NOOP_OPS = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Cast", "CastLike")


def fold_constants(graph: Graph) -> Graph:
    """Evaluate nodes whose inputs are all constant (unless the result would be huge)."""
    constants, types, nodes = dict(graph.constants), dict(graph.types), []
    for node in graph.nodes:
        symbolic = any(o and is_symbolic(types[o].shape) for o in node.outputs)  # its size is known at run time
        if not symbolic and all(not n or n in constants for n in node.inputs):
            values = evaluate(node, [constants.get(n) if n else None for n in node.inputs])
            if all(v.size <= FOLD_GROWTH_LIMIT for v in values):
                for name, value in zip(node.outputs, values):
                    constants[name] = value
                    types[name] = TensorType(str(value.dtype), tuple(value.shape))
                continue
        nodes.append(node)
    return Graph(graph.inputs, graph.outputs, nodes, types, constants)


def drop_noops(graph: Graph) -> Graph:
    """Remove nodes whose output equals their input (same type), renaming their uses."""
    rename: dict[str, str] = {}
    nodes = []
    outputs = set(graph.outputs)
    for node in graph.nodes:
        node = Node(node.op, node.name, tuple(rename.get(n, n) for n in node.inputs), node.outputs, node.attrs)
        out = node.outputs[0]
        if (node.op in NOOP_OPS and out not in outputs and node.inputs
                and graph.types[node.inputs[0]] == graph.types[out]):
            rename[out] = node.inputs[0]
            continue
        nodes.append(node)
    return Graph(graph.inputs, graph.outputs, nodes, graph.types, graph.constants)


def drop_unused(graph: Graph) -> Graph:
    """Remove nodes and constants nothing reads."""
    needed = set(graph.outputs)
    nodes = []
    for node in reversed(graph.nodes):
        if any(o in needed for o in node.outputs):
            nodes.append(node)
            needed.update(n for n in node.inputs if n)
    nodes.reverse()
    constants = {k: v for k, v in graph.constants.items() if k in needed}
    types = {k: t for k, t in graph.types.items() if k in needed or k in graph.inputs
             or any(k in n.outputs for n in nodes)}
    return Graph(graph.inputs, graph.outputs, nodes, types, constants)


PASSES = (fold_constants, drop_noops, drop_unused)


def run_passes(graph: Graph, passes=PASSES) -> Graph:
    for p in passes:
        graph = p(graph)
        graph.verify()
    return graph
