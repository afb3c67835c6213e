"""The numpy reference interpreter of the Graph IR: the oracle for every later stage."""
from __future__ import annotations

import numpy as np

from .errors import RunError
from .frontend import evaluate
from .ir import Graph


def run_reference(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate `graph` on `feeds` with the ops' numpy semantics."""
    values: dict[str, np.ndarray] = dict(graph.constants)
    for name in graph.inputs:
        if name not in feeds:
            raise RunError(f"input '{name}' is missing")
        t = graph.types[name]
        value = np.asarray(feeds[name])
        if value.shape != t.shape:
            raise RunError(f"input '{name}' has shape {list(value.shape)}; the graph expects {list(t.shape)}")
        values[name] = value.astype(t.dtype, copy=False)
    for node in graph.nodes:
        results = evaluate(node, [values[n] if n else None for n in node.inputs])
        for name, value in zip(node.outputs, results):
            values[name] = value
    return {name: values[name] for name in graph.outputs}
