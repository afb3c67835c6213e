"""TfIdfVectorizer over integers: the count of each pool n-gram in each row, its items
`distance` apart, placed at its ngram_indexes position and weighted (TF, IDF, TFIDF). The
reference is plain numpy; the import writes it as Slices, Equal, And, ReduceSum and a MatMul
by a constant one-hot table (`tfidf_nodes`), so both backends run it."""
from __future__ import annotations

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np


def tfidf_grams(ngram_counts, pool, min_gram_length, max_gram_length):
    """[(n, [(tokens, gram id)])] for the gram lengths counted: the pool holds, from
    ngram_counts[n - 1] on, the grams of length n back to back; ids number all grams from 0."""
    found, gram_id = [], 0
    for i, start in enumerate(ngram_counts):
        n = i + 1
        end = ngram_counts[i + 1] if i + 1 < len(ngram_counts) else len(pool)
        grams = [(tuple(pool[start + g * n:start + (g + 1) * n]), gram_id + g) for g in range((end - start) // n)]
        gram_id += len(grams)
        if min_gram_length <= n <= max_gram_length and grams:
            found.append((n, grams))
    return found


def tfidf_distances(n, max_skip_count):
    """Unigrams are counted once; longer grams at every distance 1 .. max_skip_count + 1."""
    return [1] if n == 1 else list(range(1, max_skip_count + 2))


def tfidf_output_weights(size, ngram_indexes, weights):
    """The weight at each output position: the i-th weight is the i-th n-gram's (ONNX's text and
    onnxruntime; onnx's reference reads it by output position, the same when ngram_indexes is 0, 1, ...)."""
    w = np.ones(size, np.float32)
    if weights is not None:
        w[np.asarray(ngram_indexes)] = np.asarray(weights, np.float32)
    return w


def TfIdfVectorizer(x, *, max_gram_length, max_skip_count, min_gram_length, mode, ngram_counts, ngram_indexes,
                    pool_int64s=None, pool_strings=None, weights=None):
    """Counts of each pool n-gram in each row (its items `distance` apart), at its ngram_indexes
    position; TF the counts, IDF the weight (1) where counted, TFIDF counts times weights."""
    if pool_int64s is None:
        raise UnsupportedError("TfIdfVectorizer over strings (pool_strings) is not supported; webjit counts integers")
    rows = x.reshape(1, -1) if x.ndim < 2 else x
    size = max(ngram_indexes) + 1
    freq = np.zeros((rows.shape[0], size))
    for n, grams in tfidf_grams(ngram_counts, pool_int64s, min_gram_length, max_gram_length):
        for d in tfidf_distances(n, max_skip_count):
            length = rows.shape[1] - d * (n - 1)
            for tokens, gram_id in grams:
                if length > 0:
                    hits = np.all([rows[:, k * d:k * d + length] == tokens[k] for k in range(n)], axis=0)
                    freq[:, ngram_indexes[gram_id]] += hits.sum(axis=1)
    w = tfidf_output_weights(size, ngram_indexes, weights)
    y = freq if mode == "TF" else np.where(freq > 0, w, 0) if mode == "IDF" else freq * w
    return (y.reshape(size) if x.ndim < 2 else y).astype(np.float32),


def tfidf_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """TfIdfVectorizer over runtime integers: for each gram length and distance, the rows' windows
    (Slices) compared with every gram's tokens at once (Equal against a constant [grams] vector,
    And over the positions), summed over the row; a MatMul by a constant one-hot table puts each
    gram's count at its output index, then the weighting."""
    a = node.attrs
    if a.get("pool_int64s") is None:
        raise UnsupportedError(f"TfIdfVectorizer '{node.name}' counts strings (pool_strings); webjit counts integers")
    x = node.inputs[0]
    xt = graph.types[x]
    if len(xt.shape) not in (1, 2):
        raise UnsupportedError(f"TfIdfVectorizer '{node.name}' has a {len(xt.shape)}-d input; ONNX takes [C] or [N, C]")
    width = xt.shape[-1]
    size = max(a["ngram_indexes"]) + 1
    ints = lambda tag, v: const(tag, np.array(v, np.int64))
    parts, counts, order = [], [], []
    for n, grams in tfidf_grams(a["ngram_counts"], a["pool_int64s"], a["min_gram_length"], a["max_gram_length"]):
        total = None
        for d in tfidf_distances(n, a["max_skip_count"]):
            length = width - d * (n - 1)
            if length <= 0:
                continue
            match = None
            for k in range(n):
                tag = f"n{n}d{d}k{k}"
                tokens = np.array([g[0][k] for g in grams]).astype(xt.dtype)
                window = (x, ints(f"{tag}_s", [k * d]), ints(f"{tag}_e", [k * d + length]), ints(f"{tag}_a", [-1]))
                parts += [Node("Slice", t(f"{tag}_slice"), window, (t(f"{tag}_window"),)),
                          Node("Unsqueeze", t(f"{tag}_col"), (t(f"{tag}_window"), ints(f"{tag}_ax", [-1])),
                               (t(f"{tag}_u"),)),
                          Node("Equal", t(f"{tag}_eq"), (t(f"{tag}_u"), const(f"{tag}_tokens", tokens)),
                               (t(f"{tag}_hit"),))]
                if match is None:
                    match = t(f"{tag}_hit")
                else:
                    parts.append(Node("And", t(f"{tag}_and"), (match, t(f"{tag}_hit")), (t(f"{tag}_all"),)))
                    match = t(f"{tag}_all")
            tag = f"n{n}d{d}"
            parts += [Node("Cast", t(f"{tag}_float"), (match,), (t(f"{tag}_f"),), {"to": 1}),
                      Node("ReduceSum", t(f"{tag}_sum"), (t(f"{tag}_f"), ints(f"{tag}_rows", [-2])), (t(f"{tag}_c"),),
                           {"keepdims": 0})]
            if total is None:
                total = t(f"{tag}_c")
            else:
                parts.append(Node("Add", t(f"{tag}_add"), (total, t(f"{tag}_c")), (t(f"{tag}_t"),)))
                total = t(f"{tag}_t")
        if total is not None:
            counts.append(total)
            order += [gram_id for _, gram_id in grams]
    lead = list(xt.shape[:-1])
    if not counts:  # nothing can be counted: all zeros
        return (Node("ConstantOfShape", node.name, (ints("zeros_shape", lead + [size]),), node.outputs,
                     {"value": np.zeros(1, np.float32)}),)
    table = np.zeros((len(order), size), np.float32)
    for row, gram_id in enumerate(order):
        table[row, a["ngram_indexes"][gram_id]] = 1
    if len(counts) > 1:
        parts.append(Node("Concat", t("concat"), tuple(counts), (t("counts"),), {"axis": -1}))
        counts = [t("counts")]
    mode = a["mode"]
    weights = tfidf_output_weights(size, a["ngram_indexes"], a.get("weights"))
    freq = node.outputs[0] if mode == "TF" else t("freq")
    parts.append(Node("MatMul", t("place"), (counts[0], const("table", table)), (freq,)))
    if mode == "IDF":
        parts += [Node("Greater", t("seen"), (freq, const("zero", np.float32(0))), (t("seen"),)),
                  Node("Where", node.name, (t("seen"), const("weights", weights), const("none", np.float32(0))),
                       node.outputs)]
    elif mode == "TFIDF":
        parts.append(Node("Mul", node.name, (freq, const("weights", weights)), node.outputs))
    elif mode != "TF":
        raise UnsupportedError(f"TfIdfVectorizer '{node.name}' has mode {mode!r}; ONNX defines TF, IDF and TFIDF")
    return tuple(parts)
