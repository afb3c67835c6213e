"""Einsum written as ops webjit has kernels for (decompose._decompose calls einsum_nodes): per
operand, repeated letters become a diagonal (a Gather at constant indices) and letters no one
else needs are summed away; operands are then combined left to right, each pair as one batched
MatMul over the letters they share (Transpose and Reshape around it); the rest is summed and
transposed into the output's order. Shapes are static, so every index is a constant."""
from __future__ import annotations

import string

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np


def einsum_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    terms, output = _parse(node, [len(graph.types[i].shape) for i in node.inputs])
    nodes: list[Node] = []
    counter = [0]

    def emit(op, inputs, attrs=None) -> str:
        counter[0] += 1
        name = t(f"{op.lower()}{counter[0]}")
        nodes.append(Node(op, name, tuple(inputs), (name,), attrs or {}))
        return name

    def sizes_of(letters, shape):
        return dict(zip(letters, shape))

    operands = []  # (value, letters, shape)
    for value, letters in zip(node.inputs, terms):
        shape = list(graph.types[value].shape)
        value, letters, shape = _diagonals(value, letters, shape, emit, const, node)
        operands.append((value, letters, shape))

    def needed_elsewhere(k, letter):
        return letter in output or any(letter in other[1] for j, other in enumerate(operands) if j != k)

    def reduce_away(value, letters, shape, keep):
        axes = [i for i, letter in enumerate(letters) if not keep(letter)]
        if not axes:
            return value, letters, shape
        value = emit("ReduceSum", [value, const(f"axes{counter[0]}", np.array(axes, np.int64))], {"keepdims": 0})
        return value, [l for i, l in enumerate(letters) if i not in axes], [s for i, s in enumerate(shape) if i not in axes]

    operands = [reduce_away(*op, keep=lambda letter, k=k: needed_elsewhere(k, letter)) for k, op in enumerate(operands)]
    value, letters, shape = operands[0]
    for k in range(1, len(operands)):
        other, other_letters, other_shape = operands[k]
        later = set(output) | {l for _, ls, _ in operands[k + 1:] for l in ls}
        value, letters, shape = _pair(value, letters, shape, other, other_letters, other_shape, later, emit, const,
                                      counter, node)
    value, letters, shape = reduce_away(value, letters, shape, keep=lambda letter: letter in output)
    if letters != output:
        value = emit("Transpose", [value], {"perm": [letters.index(l) for l in output]})
    last = nodes[-1] if nodes else None
    if last is None or last.outputs != (value,):
        return (*nodes, Node("Identity", node.name, (value,), node.outputs))
    nodes[-1] = Node(last.op, node.name, last.inputs, node.outputs, last.attrs)
    return tuple(nodes)


def _parse(node: Node, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """Each operand's letters and the output's, with '...' spelled as letters of its own."""
    equation = node.attrs.get("equation", "").replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise UnsupportedError(f"Einsum '{node.name}' has {len(ranks)} inputs but its equation {equation!r} names "
                               f"{len(terms)}")
    spare = [c for c in string.ascii_letters if c not in equation]
    width = max([rank - len(term.replace("...", "")) for term, rank in zip(terms, ranks) if "..." in term] or [0])
    ellipsis = spare[:width]
    parsed = []
    for term, rank in zip(terms, ranks):
        if not all(c in string.ascii_letters for c in term.replace("...", "")):
            raise UnsupportedError(f"Einsum '{node.name}' has an equation webjit cannot read: {equation!r}")
        if "..." in term:
            head, _, tail = term.partition("...")
            own = rank - len(head) - len(tail)
            letters = list(head) + ellipsis[width - own:] + list(tail)
        else:
            letters = list(term)
        if len(letters) != rank:
            raise UnsupportedError(f"Einsum '{node.name}': term {term!r} of {equation!r} does not match an input of "
                                   f"rank {rank}")
        parsed.append(letters)
    if arrow:
        head, dots, tail = rhs.partition("...")
        output = list(head) + (ellipsis if dots else []) + list(tail)
    else:  # implicit output: the ellipsis, then the letters used once, in alphabetical order
        counts = {}
        for term in terms:
            for c in term.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        output = ellipsis + sorted(c for c, n in counts.items() if n == 1)
    if len(set(output)) != len(output) or any(all(c not in letters for letters in parsed) for c in output):
        raise UnsupportedError(f"Einsum '{node.name}' has an output {rhs!r} that repeats or invents letters")
    return parsed, output


def _diagonals(value, letters, shape, emit, const, node):
    """Repeated letters of one operand -> its diagonal along them."""
    letters = list(letters)
    while len(set(letters)) != len(letters):
        letter = next(l for l in letters if letters.count(l) > 1)
        first, second = [i for i, l in enumerate(letters) if l == letter][:2]
        n = shape[first]
        if shape[second] != n:
            raise UnsupportedError(f"Einsum '{node.name}' takes a diagonal over sizes {n} and {shape[second]}")
        rest = [i for i in range(len(letters)) if i not in (first, second)]
        value = emit("Transpose", [value], {"perm": rest + [first, second]})
        shape = [shape[i] for i in rest] + [n * n]
        value = emit("Reshape", [value, const(f"diag_shape{len(letters)}{letter}", np.array(shape, np.int64))])
        value = emit("Gather", [value, const(f"diag_index{len(letters)}{letter}", np.arange(n, dtype=np.int64) * (n + 1))],
                     {"axis": len(shape) - 1})
        letters = [letters[i] for i in rest] + [letter]
        shape = shape[:-1] + [n]
    return value, letters, shape


def _pair(a, a_letters, a_shape, b, b_letters, b_shape, later, emit, const, counter, node):
    """Two operands as one batched MatMul: shared letters the rest still needs are batch axes,
    the other shared letters are contracted, the rest are each operand's own."""
    a_size, b_size = dict(zip(a_letters, a_shape)), dict(zip(b_letters, b_shape))
    shared = [l for l in a_letters if l in b_letters]
    batch = [l for l in shared if l in later]
    contracted = [l for l in shared if l not in later]
    a_own = [l for l in a_letters if l not in b_letters]
    b_own = [l for l in b_letters if l not in a_letters]
    for l in shared:
        if a_size[l] != b_size[l] and 1 not in (a_size[l], b_size[l]):
            raise UnsupportedError(f"Einsum '{node.name}' gives letter {l!r} the sizes {a_size[l]} and {b_size[l]}")
    if any(a_size[l] != b_size[l] for l in contracted):
        raise UnsupportedError(f"Einsum '{node.name}' sums letter {', '.join(contracted)} over a broadcast size")
    prod = lambda letters, size: int(np.prod([size[l] for l in letters], dtype=np.int64))

    def arrange(value, letters, order, shape_after):
        if letters != order:
            value = emit("Transpose", [value], {"perm": [letters.index(l) for l in order]})
        counter[0] += 1
        return emit("Reshape", [value, const(f"pair_shape{counter[0]}", np.array(shape_after, np.int64))])

    batch_a = [a_size[l] for l in batch]
    batch_b = [b_size[l] for l in batch]
    left = arrange(a, a_letters, batch + a_own + contracted, batch_a + [prod(a_own, a_size), prod(contracted, a_size)])
    right = arrange(b, b_letters, batch + contracted + b_own, batch_b + [prod(contracted, b_size), prod(b_own, b_size)])
    product = emit("MatMul", [left, right])
    size = {**a_size, **{l: max(a_size.get(l, 1), s) for l, s in b_size.items()}}
    letters = batch + a_own + b_own
    shape = [size[l] for l in letters]
    counter[0] += 1
    value = emit("Reshape", [product, const(f"pair_out{counter[0]}", np.array(shape, np.int64))])
    return value, letters, shape
