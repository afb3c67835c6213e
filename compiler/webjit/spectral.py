"""Fourier transforms written as ops with kernels (decompose._decompose calls these): DFT and
STFT as a MatMul by a constant matrix, since the transform length is static, and the numpy
reference of MelWeightMatrix (whose inputs must be constants, so it always folds)."""
from __future__ import annotations

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np

MATRIX_LIMIT = 1 << 25  # elements of a transform matrix: 128 MiB of float32, one storage binding; beyond it, refused


def dft_matrix(node_name: str, length: int, channels: int, n: int, inverse: bool, onesided: bool) -> np.ndarray:
    """The transform as a real [length * channels, out] matrix: row (l, c) is the transform of
    the unit signal at l (real for c = 0, imaginary for c = 1), columns (k, re/im), or (k) for
    the real output of an inverse one-sided transform. Linear over the reals, so exact."""
    out = n if inverse or not onesided else n // 2 + 1
    width = out * (1 if inverse and onesided else 2)
    if length * channels * width > MATRIX_LIMIT:
        raise UnsupportedError(f"DFT '{node_name}' of length {n} over {length} values needs a "
                               f"{length * channels} x {width} transform matrix, larger than the {MATRIX_LIMIT} "
                               "values webjit builds")
    basis = np.zeros((length, channels, length), dtype=np.complex128)
    basis[np.arange(length), 0, np.arange(length)] = 1
    if channels == 2:
        basis[np.arange(length), 1, np.arange(length)] = 1j
    basis = basis.reshape(length * channels, length)
    if inverse and onesided:
        matrix = np.fft.irfft(basis, n=n, axis=1)
    else:
        spectrum = (np.fft.ifft if inverse else np.fft.fft)(basis, n=n, axis=1)[:, :out]
        matrix = np.stack([spectrum.real, spectrum.imag], axis=-1).reshape(length * channels, width)
    matrix[np.abs(matrix) < 1e-12] = 0  # sin(pi k) and friends: exact zeros, not rounding noise
    return matrix.astype(np.float32)


def _constant_scalar(node: Node, graph: Graph, position: int, what: str):
    """The value of an optional scalar input that webjit needs at compile time, or None."""
    name = node.inputs[position] if position < len(node.inputs) else ""
    if not name:
        return None
    if name not in graph.constants:
        hint = f"; bind it with --const {name}=VALUE" if name in graph.inputs else ""
        raise UnsupportedError(f"{node.op} '{node.name}' takes its {what} from '{name}', which webjit needs at "
                               f"compile time{hint}")
    return np.asarray(graph.constants[name]).reshape(-1)[0].item()


def dft_nodes(node: Node, graph: Graph, const, t, opset: int) -> tuple[Node, ...]:
    """DFT (opsets 17 and 20): the transformed axis and the re/im axis moved last, flattened
    into rows of a MatMul by dft_matrix, and moved back."""
    x = node.inputs[0]
    xt = graph.types[x]
    shape, rank = list(xt.shape), len(xt.shape)
    if xt.dtype != "float32" or rank < 2 or shape[-1] not in (1, 2):
        raise UnsupportedError(f"DFT '{node.name}' needs a float32 input whose last axis (real, or real and "
                               f"imaginary) is 1 or 2 long")
    n = _constant_scalar(node, graph, 1, "dft_length")
    axis = _constant_scalar(node, graph, 2, "axis") if opset >= 20 else node.attrs.get("axis", 1)
    axis = -2 if axis is None else int(axis)
    if not -rank <= axis < rank or axis % rank == rank - 1:
        raise UnsupportedError(f"DFT '{node.name}' transforms axis {axis}, which is not a signal axis of its "
                               f"rank-{rank} input")
    axis %= rank
    inverse, onesided = bool(node.attrs.get("inverse", 0)), bool(node.attrs.get("onesided", 0))
    length, channels = shape[axis], shape[-1]
    if n is None:
        n = 2 * (length - 1) if inverse and onesided else length
    if int(n) < 1:
        raise UnsupportedError(f"DFT '{node.name}' has dft_length {n}; it must be positive")
    matrix = dft_matrix(node.name, length, channels, int(n), inverse, onesided)
    out_channels = 1 if inverse and onesided else 2
    out_length = matrix.shape[1] // out_channels
    perm = [d for d in range(rank - 1) if d != axis] + [axis, rank - 1]
    others = [shape[d] for d in perm[:-2]]
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    parts, current = [], x
    if perm != list(range(rank)):
        parts.append(Node("Transpose", t("to_last"), (x,), (t("moved"),), {"perm": perm}))
        current = t("moved")
    moved_out = others + [out_length, out_channels]
    result = node.outputs[0] if perm == list(range(rank)) else t("result")
    parts += [Node("Reshape", t("rows"), (current, ints("rows_shape", [int(np.prod(others)), length * channels])),
                   (t("rows"),)),
              Node("MatMul", t("transform"), (t("rows"), const("matrix", matrix)), (t("spectrum"),)),
              Node("Reshape", t("unrows"), (t("spectrum"), ints("out_shape", moved_out)), (result,))]
    if result != node.outputs[0]:
        parts.append(Node("Transpose", node.name, (result,), node.outputs[:1], {"perm": list(np.argsort(perm))}))
    return tuple(parts)


def stft_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """STFT: the frames gathered at constant indices, the window folded into the DFT matrix
    (or multiplied in when it is computed at run time), one MatMul."""
    signal = node.inputs[0]
    st = graph.types[signal]
    if st.dtype != "float32" or len(st.shape) != 3 or st.shape[2] not in (1, 2):
        raise UnsupportedError(f"STFT '{node.name}' needs a float32 signal of shape [batch, length, 1 or 2]")
    batch, length, channels = st.shape
    step = _constant_scalar(node, graph, 1, "frame_step")
    window = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    frame = _constant_scalar(node, graph, 3, "frame_length")
    size = graph.types[window].shape[0] if window else None
    frame = int(frame) if frame is not None else size if size is not None else length
    if size is not None and size != frame:
        raise UnsupportedError(f"STFT '{node.name}' has a window of {size} values for frames of {frame}")
    if step is None or int(step) < 1 or not 1 <= frame <= length:
        raise UnsupportedError(f"STFT '{node.name}' needs a positive frame_step and frames no longer than its "
                               f"signal ({length})")
    frames = (length - frame) // int(step) + 1
    onesided = bool(node.attrs.get("onesided", 1))
    matrix = dft_matrix(node.name, frame, channels, frame, False, onesided)
    starts = np.arange(frames)[:, None] * int(step) + np.arange(frame)[None, :]
    parts = [Node("Gather", t("frames"), (signal, const("starts", starts.astype(np.int64))), (t("framed"),),
                  {"axis": 1})]
    framed = t("framed")
    if window and window in graph.constants:
        matrix = matrix * np.repeat(np.asarray(graph.constants[window], np.float32), channels)[:, None]
    elif window:
        parts += [Node("Reshape", t("window4"), (window, const("window_shape", np.array([1, 1, frame, 1], np.int64))),
                       (t("window4"),)),
                  Node("Mul", t("windowed"), (framed, t("window4")), (t("windowed"),))]
        framed = t("windowed")
    bins = matrix.shape[1] // 2
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    return (*parts,
            Node("Reshape", t("rows"), (framed, ints("rows_shape", [batch, frames, frame * channels])), (t("rows"),)),
            Node("MatMul", t("transform"), (t("rows"), const("matrix", matrix.astype(np.float32))), (t("spectrum"),)),
            Node("Reshape", node.name, (t("spectrum"), ints("out_shape", [batch, frames, bins, 2])), node.outputs[:1]))


def MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz, *, output_datatype=1):
    """Triangular filters, peak 1, at num_mel_bins + 2 points evenly spaced on the mel scale
    (mel(f) = 2595 log10(1 + f / 700)) between the edges, each point at spectrogram bin
    floor((dft_length + 1) f / sample_rate); rows are the dft_length // 2 + 1 one-sided bins."""
    if output_datatype != 1:
        raise UnsupportedError(f"MelWeightMatrix with output_datatype {output_datatype} is not supported; webjit "
                               "builds it in float32")
    mels, n = int(num_mel_bins), int(dft_length)
    # in the edges' own dtype and this order of operations: a bin edge is a floor, and ONNX's
    # expected values put some edges exactly on integers
    to_mel = lambda f: 2595 * np.log1p(np.asarray(f) / 700) / np.log(10)
    low, high = to_mel(lower_edge_hertz), to_mel(upper_edge_hertz)
    points = np.arange(mels + 2) * ((high - low) / (mels + 2)) + low
    hertz = 700 * np.expm1(points / 2595 * np.log(10))
    edges = ((n + 1) * hertz // np.asarray(sample_rate)).astype(np.int64)
    j = np.arange(n // 2 + 1)[:, None]
    left, centre, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((j >= left) & (j <= centre), (j - left) / np.maximum(centre - left, 1), 0.0)
        falling = np.where((j >= centre) & (j < right), (right - j) / np.maximum(right - centre, 1), 0.0)
    weights = np.where((j >= centre) & (j < right), falling, rising)
    weights = np.where((j == centre) & (centre == left), 1.0, weights)
    return (weights.astype(np.float32),)
