"""GridSample and AffineGrid written as ops with kernels (decompose.py calls these at import).

GridSample reads the input at coordinates that are only known at run time, so it becomes index
arithmetic on the grid (elementwise nodes) and a Gather from the flattened input per tap: 1 tap
for nearest, 2^n for linear, 4^n for cubic, each weighted by the product of its per-axis
weights. The padding modes: for nearest and linear, border and reflection first move a coordinate
outside the borders back in (as the ONNX reference does); then each tap's index is clamped
(border), reflected (reflection) or masked to zero (zeros). Cubic pads its taps only, as
PyTorch and onnxruntime do (the reference also moves the coordinate; no ONNX case tells them
apart, and models come from PyTorch)."""
from __future__ import annotations

import itertools

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np

CUBIC_ALPHA = -0.75


class Nodes:
    """Appends single-output nodes named after the decomposed node; constants as float32 unless told."""

    def __init__(self, node: Node, const, t):
        self.node, self.const, self.t, self.parts, self.count = node, const, t, [], 0

    def __call__(self, op: str, *inputs, out: str = "", **attrs) -> str:
        self.count += 1
        name = out or self.t(f"v{self.count}")
        self.parts.append(Node(op, self.t(f"n{self.count}"), tuple(inputs), (name,), attrs))
        return name

    def c(self, value, dtype=np.float32) -> str:
        self.count += 1
        return self.const(f"c{self.count}", np.asarray(value, dtype))


def _reflect(b: Nodes, x: str, lo: float, hi: float) -> str:
    """The ONNX reference's reflection of a coordinate into [lo, hi] (by the near border, over and over)."""
    if hi == lo:
        return b("Add", b("Mul", x, b.c(0.0)), b.c(lo))
    below, above = b("Less", x, b.c(lo)), b("Greater", x, b.c(hi))
    beyond = b("Where", below, b("Sub", b.c(lo), x), b("Where", above, b("Sub", x, b.c(hi)), b.c(0.0)))
    turns = b("Floor", b("Div", beyond, b.c(hi - lo)))
    rest = b("Sub", beyond, b("Mul", turns, b.c(hi - lo)))
    even = b("Equal", b("Mul", b("Floor", b("Mul", turns, b.c(0.5))), b.c(2.0)), turns)
    near, far = b("Where", below, b.c(lo), b.c(hi)), b("Where", below, b.c(hi), b.c(lo))
    toward = b("Where", below, b.c(1.0), b.c(-1.0))
    step = b("Mul", toward, rest)
    moved = b("Where", even, b("Add", near, step), b("Sub", far, step))
    return b("Where", b("Or", below, above), moved, x)


def _horner(b: Nodes, u: str, coefficients) -> str:
    value = b.c(coefficients[0])
    for coefficient in coefficients[1:]:
        value = b("Add", b("Mul", value, u), b.c(coefficient))
    return value


def _cubic_weights(b: Nodes, frac: str) -> list[str]:
    a = CUBIC_ALPHA
    outer, inner = (a, -5 * a, 8 * a, -4 * a), (a + 2, -(a + 3), 0.0, 1.0)
    one = b("Sub", b.c(1.0), frac)
    return [_horner(b, b("Add", frac, b.c(1.0)), outer), _horner(b, frac, inner), _horner(b, one, inner),
            _horner(b, b("Sub", b.c(2.0), frac), outer)]


def grid_sample_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """GridSample (opset 16 and later) of an n-d image at a runtime grid (see the module docstring)."""
    x, grid = node.inputs[:2]
    xs, gs = graph.types[x].shape, graph.types[grid].shape
    n = len(xs) - 2
    a = node.attrs
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(a.get("mode", "linear"), a.get("mode", "linear"))
    padding, align = a.get("padding_mode", "zeros"), bool(a.get("align_corners", 0))
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise UnsupportedError(f"GridSample '{node.name}' has mode {mode!r} and padding {padding!r}; ONNX defines "
                               "nearest, linear and cubic with zeros, border and reflection")
    if n < 1 or len(gs) != n + 2 or gs[-1] != n or gs[0] != xs[0]:
        raise UnsupportedError(f"GridSample '{node.name}' has input shape {list(xs)} and grid shape {list(gs)}, "
                               "which do not fit together")
    if graph.types[x].dtype != "float32" or graph.types[grid].dtype != "float32":
        raise UnsupportedError(f"GridSample '{node.name}' samples {graph.types[x].dtype} values at "
                               f"{graph.types[grid].dtype} coordinates; webjit samples float32 at float32")
    b = Nodes(node, const, t)
    sizes = list(xs[2:])
    per_axis = []  # per spatial axis: [(index as float, weight or None, inside or None)] per tap
    for axis, size in enumerate(sizes):
        g = b("Gather", grid, b.c(n - 1 - axis, np.int64), axis=len(gs) - 1)  # the grid lists x (last axis) first
        if align:
            coord = b("Mul", b("Add", g, b.c(1.0)), b.c((size - 1) / 2.0))
        else:
            coord = b("Mul", b("Sub", b("Mul", b("Add", g, b.c(1.0)), b.c(float(size))), b.c(1.0)), b.c(0.5))
        if mode == "nearest":
            coord = b("Round", coord)
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        if padding == "border" and mode != "cubic":
            outside = b("Or", b("Less", coord, b.c(lo)), b("Greater", coord, b.c(hi)))
            coord = b("Where", outside, b("Clip", coord, b.c(0.0), b.c(size - 1.0)), coord)
        elif padding == "reflection" and mode != "cubic":
            coord = _reflect(b, coord, lo, hi)
        if mode == "nearest":
            taps = [(coord, None)]
        else:
            base = b("Floor", coord)
            frac = b("Sub", coord, base)
            if mode == "linear":
                taps = [(base, b("Sub", b.c(1.0), frac)), (b("Add", base, b.c(1.0)), frac)]
            else:
                taps = [(b("Add", base, b.c(float(k))), weight) for k, weight in zip((-1, 0, 1, 2), _cubic_weights(b, frac))]
        entries = []
        for index, weight in taps:
            inside = None
            if padding == "zeros":
                inside = b("And", b("GreaterOrEqual", index, b.c(0.0)), b("Less", index, b.c(float(size))))
                index = b("Clip", index, b.c(0.0), b.c(size - 1.0))
            elif padding == "border":
                index = b("Clip", index, b.c(0.0), b.c(size - 1.0))
            else:
                index = _reflect(b, index, lo, hi) if mode != "nearest" else index
                index = b("Clip", index, b.c(0.0), b.c(size - 1.0))  # reflected indices are in range; truncation safety
            entries.append((b("Cast", index, to=7), weight, inside))
        per_axis.append(entries)
    # Flat positions in the input: (n * C + c) * plane + the spatial offset of each tap.
    plane = int(np.prod(sizes))
    strides = [int(np.prod(sizes[i + 1:])) for i in range(n)]
    base = (np.arange(xs[0] * xs[1], dtype=np.int64) * plane).reshape([xs[0], xs[1]] + [1] * n)
    flat_x = b("Reshape", x, b.c([-1], np.int64))
    total = ""
    for combo in itertools.product(*per_axis):
        offset = ""
        for (index, _, _), stride in zip(combo, strides):
            term = index if stride == 1 else b("Mul", index, b.c(stride, np.int64))
            offset = term if not offset else b("Add", offset, term)
        position = b("Add", b("Unsqueeze", offset, b.c([1], np.int64)), b.c(base, np.int64))
        value = b("Gather", flat_x, position, axis=0)
        inside = [m for _, _, m in combo if m]
        if inside:
            mask = inside[0]
            for m in inside[1:]:
                mask = b("And", mask, m)
            value = b("Where", b("Unsqueeze", mask, b.c([1], np.int64)), value, b.c(0.0))
        weights = [w for _, w, _ in combo if w]
        if weights:
            weight = weights[0]
            for w in weights[1:]:
                weight = b("Mul", weight, w)
            value = b("Mul", value, b("Unsqueeze", weight, b.c([1], np.int64)))
        total = value if not total else b("Add", total, value)
    b("Identity", total, out=node.outputs[0])
    return tuple(b.parts)


def affine_grid_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """AffineGrid: the constant grid of normalised [x, y, (z,) 1] coordinates times theta^T per batch."""
    theta, size = node.inputs[:2]
    if size not in graph.constants:
        hint = f"; bind it with --const {size}=VALUE" if size in graph.inputs else ""
        raise UnsupportedError(f"AffineGrid '{node.name}' takes its size from '{size}', which webjit needs at "
                               f"compile time{hint}")
    batch, _, *spatial = (int(v) for v in graph.constants[size])
    n = len(spatial)
    ts = graph.types[theta].shape
    if n not in (2, 3) or tuple(ts) != (batch, n, n + 1):
        raise UnsupportedError(f"AffineGrid '{node.name}' has theta {list(ts)} for size {[batch, _] + spatial}; ONNX "
                               "takes [N, 2, 3] for 2-d and [N, 3, 4] for 3-d")
    axes = []
    for length in spatial:
        if node.attrs.get("align_corners", 0):
            axes.append(np.linspace(-1.0, 1.0, length) if length > 1 else np.array([-1.0]))
        else:
            axes.append((np.arange(length) * 2.0 + 1.0) / length - 1.0)
    mesh = np.meshgrid(*axes, indexing="ij")
    base = np.stack([m.reshape(-1) for m in mesh[::-1]] + [np.ones(int(np.prod(spatial)))], axis=1)
    b = Nodes(node, const, t)
    rows = b("MatMul", b.c(base.astype(np.float32)), b("Transpose", theta, perm=[0, 2, 1]))
    b("Reshape", rows, b.c([batch] + spatial + [n], np.int64), out=node.outputs[0])
    return tuple(b.parts)


def deform_conv_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """DeformConv (2-d): each filter tap reads the input bilinearly (zeros outside) at its place
    moved by the runtime offsets, times the mask; those columns [N, C * taps, P] then go
    through one batched MatMul per group, as Conv's runtime-filter form does."""
    ins = list(node.inputs) + [""] * (5 - len(node.inputs))
    x, w, offset, bias, mask = ins[:5]
    xs, ws, os_ = graph.types[x].shape, graph.types[w].shape, graph.types[offset].shape
    if len(xs) != 4:
        raise UnsupportedError(f"DeformConv '{node.name}' has a {len(xs)}-d input; webjit deforms 2-d convolutions")
    if graph.types[x].dtype != "float32":
        raise UnsupportedError(f"DeformConv '{node.name}' convolves {graph.types[x].dtype} values; webjit convolves "
                               "float32")
    a = node.attrs
    batch, channels, h, wd = xs
    out_channels, cg, kh, kw = ws
    group, offset_group = int(a.get("group", 1)), int(a.get("offset_group", 1))
    strides = list(a.get("strides") or [1, 1])
    dilations = list(a.get("dilations") or [1, 1])
    pads = list(a.get("pads") or [0, 0, 0, 0])
    oh, ow = os_[2:]
    taps, positions, per_offset = kh * kw, oh * ow, channels // max(offset_group, 1)
    if (channels != cg * group or out_channels % group or channels % offset_group
            or os_[1] != offset_group * taps * 2 or os_[0] != batch):
        raise UnsupportedError(f"DeformConv '{node.name}' has input {list(xs)}, filter {list(ws)} and offsets "
                               f"{list(os_)} with group {group} and offset_group {offset_group}, which do not fit")
    b = Nodes(node, const, t)
    ints = lambda value: b.c(value, np.int64)
    ky, kx = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    oy, ox = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    base_y = (ky.reshape(-1, 1) * dilations[0] + oy.reshape(1, -1) * strides[0] - pads[0]).astype(np.float32)
    base_x = (kx.reshape(-1, 1) * dilations[1] + ox.reshape(1, -1) * strides[1] - pads[1]).astype(np.float32)
    moves = b("Reshape", offset, ints([batch, offset_group, taps, 2, positions]))
    y = b("Add", b("Gather", moves, ints(0), axis=3), b.c(base_y))
    xc = b("Add", b("Gather", moves, ints(1), axis=3), b.c(base_x))
    y0, x0 = b("Floor", y), b("Floor", xc)
    fy, fx = b("Sub", y, y0), b("Sub", xc, x0)
    gy, gx = b("Sub", b.c(1.0), fy), b("Sub", b.c(1.0), fx)
    y1, x1 = b("Add", y0, b.c(1.0)), b("Add", x0, b.c(1.0))
    plane = (np.arange(batch).reshape(-1, 1, 1) * channels + np.arange(offset_group).reshape(1, -1, 1) * per_offset
             + np.arange(per_offset).reshape(1, 1, -1)) * (h * wd)
    plane = ints(plane.reshape(batch, offset_group, per_offset, 1, 1))
    flat_x = b("Reshape", x, ints([-1]))
    unsqueeze = lambda value: b("Unsqueeze", value, ints([2]))
    total = ""
    for cy, cx, weight in ((y0, x0, b("Mul", gy, gx)), (y0, x1, b("Mul", gy, fx)), (y1, x0, b("Mul", fy, gx)),
                           (y1, x1, b("Mul", fy, fx))):
        inside = b("And", b("And", b("GreaterOrEqual", cy, b.c(0.0)), b("Less", cy, b.c(float(h)))),
                   b("And", b("GreaterOrEqual", cx, b.c(0.0)), b("Less", cx, b.c(float(wd)))))
        at = b("Add", b("Mul", b("Clip", cy, b.c(0.0), b.c(h - 1.0)), b.c(float(wd))), b("Clip", cx, b.c(0.0), b.c(wd - 1.0)))
        value = b("Gather", flat_x, b("Add", unsqueeze(b("Cast", at, to=7)), plane), axis=0)
        value = b("Mul", b("Where", unsqueeze(inside), value, b.c(0.0)), unsqueeze(weight))
        total = value if not total else b("Add", total, value)
    if mask:
        total = b("Mul", total, unsqueeze(b("Reshape", mask, ints([batch, offset_group, taps, positions]))))
    columns = b("Reshape", total, ints([batch, group, cg * taps, positions]))
    product = b("MatMul", b("Reshape", w, ints([group, out_channels // group, cg * taps])), columns)
    result = b("Reshape", product, ints([batch, out_channels, oh, ow]))
    if bias:
        result = b("Add", result, b("Reshape", bias, ints([out_channels, 1, 1])))
    b("Identity", result, out=node.outputs[0])
    return tuple(b.parts)
