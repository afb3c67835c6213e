"""Quantized ops written as float32 ops at import (decompose.py calls `quant_nodes`), so both
backends run them with the kernels they have.

- DequantizeLinear: (x - zero_point) * scale; QuantizeLinear: saturate(round(x / scale) +
  zero_point), round half to even (Round), saturation by Clip. Per tensor, per axis and
  blocked (each scale repeated along the axis by Unsqueeze, Expand, Reshape and Slice).
- DynamicQuantizeLinear: the uint8 scale and zero point from ReduceMax/ReduceMin, as ONNX
  defines them, then QuantizeLinear.
- MatMulInteger, ConvInteger, and the integer products of QLinearMatMul and QLinearConv:
  operands minus their zero points are exact in float32 (|v| <= 255), and a sum of 256
  products of them stays below 2^24, so each product is a float32 MatMul or Conv over
  slices of at most 256 terms, cast to int32 and summed in int32: exact, as onnxruntime's
  integer kernels are. The requantization (int32 -> float multiply by the scales, round,
  zero point, saturate) follows onnxruntime's order of float operations.
- com.microsoft QLinearAdd (onnxruntime's QOperator models): saturate(round((a - a_zero) *
  (a_scale / c_scale) + (b - b_zero) * (b_scale / c_scale)) + c_zero), the float operations
  onnxruntime's kernel does.
- com.microsoft MatMulNBits (2-, 4- and 8-bit block-quantized weights): the weights are
  dequantized at compile time to a float32 matrix, then a MatMul (the bundle stores them
  as float32; they are not kept packed).
"""
from __future__ import annotations

from .dtypes import ONNX_CODES
from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np
from .ops import ONNX_DTYPES

QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
             "QLinearMatMul", "QLinearConv", "MatMulNBits", "QLinearAdd")
# (domain, op) outside ONNX's own domain that webjit supports
CONTRIB_OPS = {("com.microsoft", "MatMulNBits"), ("com.microsoft", "QLinearAdd")}
RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767)}
EXACT_TERMS = 256  # 256 * 255 * 255 < 2^24: sums of that many 8-bit products are exact in float32
FLOAT = ONNX_CODES["float32"]


class Pieces:
    """The nodes one quantized op becomes, each output named after the op."""

    def __init__(self, node: Node, graph: Graph, const):
        self.node, self.graph, self.const, self.nodes, self.count = node, graph, const, [], 0

    def add(self, op: str, inputs, attrs=None, output: str | None = None) -> str:
        self.count += 1
        name = f"{self.node.name}::q{self.count}"
        self.nodes.append(Node(op, name, tuple(inputs), (output or name,), dict(attrs or {})))
        return output or name

    def number(self, value, dtype=np.float32) -> str:
        self.count += 1
        return self.const(f"c{self.count}", np.asarray(value, dtype=dtype))

    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph.types[name].shape

    def dtype(self, name: str) -> str:
        return self.graph.types[name].dtype

    def as_float(self, name: str) -> str:
        return name if self.dtype(name) == "float32" else self.add("Cast", (name,), {"to": FLOAT})

    def reshaped(self, name: str, axis: int, rank: int) -> str:
        """A 1-d per-axis tensor shaped [1, .., n, .., 1] to broadcast along `axis` of rank-`rank` data."""
        shape = self.shape(name)
        if len(shape) == 0 or (len(shape) == 1 and shape[0] == 1):
            return name
        dims = [1] * rank
        dims[axis] = shape[0]
        return self.add("Reshape", (name, self.number(dims, np.int64)))

    def float_along(self, name: str, axis: int, rank: int, block: int = 0, length: int = 0) -> str:
        """A scale or zero point in float32, per tensor, per axis or blocked, shaped to broadcast
        against the data."""
        if block:  # each scale repeated `block` times along the axis, cut to the data's length
            shape = list(self.shape(name))
            grown = shape[:axis] + [shape[axis], block] + shape[axis + 1:]
            wide = self.add("Unsqueeze", (self.as_float(name), self.number([axis + 1], np.int64)))
            wide = self.add("Expand", (wide, self.number(grown, np.int64)))
            flat = shape[:axis] + [shape[axis] * block] + shape[axis + 1:]
            wide = self.add("Reshape", (wide, self.number(flat, np.int64)))
            ends = (self.number([0], np.int64), self.number([length], np.int64), self.number([axis], np.int64))
            return self.add("Slice", (wide, *ends))
        shape = self.shape(name)
        if len(shape) == 0 or (len(shape) == 1 and shape[0] == 1):
            return self.as_float(name)
        dims = [1] * rank
        dims[axis] = shape[0]
        return self.add("Reshape", (self.as_float(name), self.number(dims, np.int64)))

    def minus_zero(self, x: str, zero: str, axis: int = -1, rank: int = 0) -> str:
        """x - zero point, in float32 (exact for 8- and 16-bit integers)."""
        xf = self.as_float(x)
        if not zero:
            return xf
        return self.add("Sub", (xf, self.float_along(zero, axis, rank) if rank else self.as_float(zero)))

    def saturate(self, value: str, dtype: str, output: str) -> str:
        """Clip a float32 of whole numbers to `dtype`'s range and cast it there, into `output`."""
        if dtype not in RANGES:
            raise UnsupportedError(f"{self.node.op} '{self.node.name}' quantizes to {dtype}; webjit quantizes to "
                                   f"{', '.join(RANGES)}")
        lo, hi = RANGES[dtype]
        clipped = self.add("Clip", (value, self.number(lo), self.number(hi)))
        return self.add("Cast", (clipped,), {"to": ONNX_CODES[dtype]}, output)


def quant_nodes(node: Node, graph: Graph, const) -> tuple[Node, ...]:
    p = Pieces(node, graph, const)
    BUILDERS[node.op](p, node)
    return tuple(p.nodes)


def _dequantize(p: Pieces, node: Node) -> None:
    x, scale = node.inputs[:2]
    zero = node.inputs[2] if len(node.inputs) > 2 else ""
    rank = len(p.shape(x))
    axis, block = node.attrs.get("axis", 1) % max(rank, 1), node.attrs.get("block_size", 0)
    length = p.shape(x)[axis] if rank else 0
    xf = p.as_float(x)
    if zero:
        xf = p.add("Sub", (xf, p.float_along(zero, axis, rank, block, length)))
    out = ONNX_DTYPES.get(node.attrs.get("output_dtype") or 0) or p.dtype(scale)
    y = node.outputs[0] if out == "float32" else None
    value = p.add("Mul", (xf, p.float_along(scale, axis, rank, block, length)), output=y)
    if y is None:
        p.add("Cast", (value,), {"to": ONNX_CODES[out]}, node.outputs[0])


def _quantize(p: Pieces, node: Node) -> None:
    x, scale = node.inputs[:2]
    zero = node.inputs[2] if len(node.inputs) > 2 else ""
    rank = len(p.shape(x))
    axis, block = node.attrs.get("axis", 1) % max(rank, 1), node.attrs.get("block_size", 0)
    length = p.shape(x)[axis] if rank else 0
    out = p.dtype(zero) if zero else ONNX_DTYPES.get(node.attrs.get("output_dtype") or 2, "uint8")
    q = p.add("Round", (p.add("Div", (p.as_float(x), p.float_along(scale, axis, rank, block, length))),))
    if zero:
        q = p.add("Add", (q, p.float_along(zero, axis, rank, block, length)))
    p.saturate(q, out, node.outputs[0])


def _dynamic_quantize(p: Pieces, node: Node) -> None:
    """ONNX's definition: scale = (max(0, max x) - min(0, min x)) / 255, zero point =
    round(saturate(0 - min / scale)), y = saturate(round(x / scale) + zero point), uint8."""
    x = p.as_float(node.inputs[0])
    y, y_scale, y_zero = (list(node.outputs) + ["", ""])[:3]
    high = p.add("Max", (p.add("ReduceMax", (x,), {"keepdims": 0}), p.number(0)))
    low = p.add("Min", (p.add("ReduceMin", (x,), {"keepdims": 0}), p.number(0)))
    scale = p.add("Div", (p.add("Sub", (high, low)), p.number(255)), output=y_scale or None)
    shifted = p.add("Sub", (p.number(0), p.add("Div", (low, scale))))
    zero = p.add("Round", (p.add("Clip", (shifted, p.number(0), p.number(255))),))
    if y_zero:
        p.add("Cast", (zero,), {"to": ONNX_CODES["uint8"]}, y_zero)
    if y:
        q = p.add("Add", (p.add("Round", (p.add("Div", (x, scale)),)), zero))
        p.saturate(q, "uint8", y)


def _integer_matmul(p: Pieces, a: str, b: str, a_zero: str, b_zero: str) -> str:
    """int32 (a - a_zero) @ (b - b_zero), exact: float32 MatMuls of at most EXACT_TERMS terms."""
    ra, rb = len(p.shape(a)), len(p.shape(b))
    af = p.minus_zero(a, a_zero, ra - 2, ra) if a_zero and len(p.shape(a_zero)) == 1 and ra >= 2 else p.minus_zero(a, a_zero)
    bf = p.minus_zero(b, b_zero)  # per column: [N] broadcasts along the last axis
    k = p.shape(a)[-1]
    parts = []
    for start in range(0, k, EXACT_TERMS):
        end = min(k, start + EXACT_TERMS)
        sa, sb = af, bf
        if k > EXACT_TERMS:
            sa = p.add("Slice", (af, p.number([start], np.int64), p.number([end], np.int64), p.number([-1], np.int64)))
            sb = p.add("Slice", (bf, p.number([start], np.int64), p.number([end], np.int64),
                                 p.number([-2 if rb >= 2 else 0], np.int64)))
        parts.append(p.add("Cast", (p.add("MatMul", (sa, sb)),), {"to": ONNX_CODES["int32"]}))
    return _int_sum(p, parts)


def _int_sum(p: Pieces, parts: list[str]) -> str:
    total = parts[0]
    for part in parts[1:]:
        total = p.add("Add", (total, part))
    return total


def _integer_conv(p: Pieces, node: Node, x: str, w: str, x_zero: str, w_zero: str) -> str:
    """int32 Conv(x - x_zero, w - w_zero) with the Conv's attributes, exact: float32 Convs over
    input-channel slices of at most EXACT_TERMS products per output."""
    attrs = {k: v for k, v in node.attrs.items() if k in ("auto_pad", "dilations", "group", "kernel_shape",
                                                           "pads", "strides")}
    wshape = p.shape(w)
    xf = p.minus_zero(x, x_zero)
    wf = p.minus_zero(w, w_zero, 0, len(wshape))
    window = int(np.prod(wshape[2:]))
    per_group = wshape[1]
    if per_group * window <= EXACT_TERMS:
        return p.add("Cast", (p.add("Conv", (xf, wf), attrs),), {"to": ONNX_CODES["int32"]})
    if attrs.get("group", 1) != 1 or window > EXACT_TERMS:
        raise UnsupportedError(f"{node.op} '{node.name}' sums {per_group * window} products per output "
                               f"{'in groups' if attrs.get('group', 1) != 1 else 'in one window'}; webjit computes "
                               f"integer convolutions exactly only up to {EXACT_TERMS} per group or window")
    step = EXACT_TERMS // window
    parts = []
    for start in range(0, per_group, step):
        bounds = (p.number([start], np.int64), p.number([min(per_group, start + step)], np.int64), p.number([1], np.int64))
        xs, ws = p.add("Slice", (xf, *bounds)), p.add("Slice", (wf, *bounds))
        parts.append(p.add("Cast", (p.add("Conv", (xs, ws), attrs),), {"to": ONNX_CODES["int32"]}))
    return _int_sum(p, parts)


def _matmul_integer(p: Pieces, node: Node) -> None:
    a, b = node.inputs[:2]
    a_zero, b_zero = (list(node.inputs[2:]) + ["", ""])[:2]
    total = _integer_matmul(p, a, b, a_zero, b_zero)
    p.add("Identity", (total,), output=node.outputs[0])


def _conv_integer(p: Pieces, node: Node) -> None:
    x, w = node.inputs[:2]
    x_zero, w_zero = (list(node.inputs[2:]) + ["", ""])[:2]
    p.add("Identity", (_integer_conv(p, node, x, w, x_zero, w_zero),), output=node.outputs[0])


def _requantize(p: Pieces, node: Node, total: str, scales: tuple[str, str, str], y_zero: str, rank: int,
                axis: int) -> None:
    """y = saturate(round(float(total) * (s1 * s2 / s_y)) + y_zero), as onnxruntime requantizes."""
    for name in (scales[0], scales[2]):
        if int(np.prod(p.shape(name))) != 1:
            raise UnsupportedError(f"{node.op} '{node.name}' has a per-row scale '{name}'; webjit requantizes with "
                                   "one scale for the input and one for the output")
    s1, sy = p.as_float(scales[0]), p.as_float(scales[2])
    s2 = p.float_along(scales[1], axis, rank) if axis >= 0 else p.as_float(scales[1])  # per output channel
    multiplier = p.add("Div", (p.add("Mul", (s1, s2)), sy))
    q = p.add("Round", (p.add("Mul", (p.add("Cast", (total,), {"to": FLOAT}), multiplier)),))
    q = p.add("Add", (q, p.as_float(y_zero)))
    p.saturate(q, p.dtype(y_zero), node.outputs[0])


def _qlinear_matmul(p: Pieces, node: Node) -> None:
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = node.inputs[:8]
    total = _integer_matmul(p, a, b, a_zero, b_zero)
    _requantize(p, node, total, (a_scale, b_scale, y_scale), y_zero, 0, -1)  # b's per-column scales: last axis


def _qlinear_conv(p: Pieces, node: Node) -> None:
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = node.inputs[:8]
    bias = node.inputs[8] if len(node.inputs) > 8 else ""
    total = _integer_conv(p, node, x, w, x_zero, w_zero)
    rank = len(p.shape(x))
    if bias:
        total = p.add("Add", (total, p.reshaped(bias, 1, rank)))
    _requantize(p, node, total, (x_scale, w_scale, y_scale), y_zero, rank, 1)


def _qlinear_add(p: Pieces, node: Node) -> None:
    a, a_scale, a_zero, b, b_scale, b_zero, c_scale = node.inputs[:7]
    c_zero = node.inputs[7] if len(node.inputs) > 7 else ""
    for name in (a_scale, b_scale, c_scale):
        if int(np.prod(p.shape(name))) != 1:
            raise UnsupportedError(f"QLinearAdd '{node.name}' has a per-axis scale '{name}'; webjit adds with one "
                                   "scale per tensor")
    c = p.as_float(c_scale)
    terms = [p.add("Mul", (p.minus_zero(x, zero), p.add("Div", (p.as_float(scale), c))))
             for x, scale, zero in ((a, a_scale, a_zero), (b, b_scale, b_zero))]
    q = p.add("Round", (p.add("Add", tuple(terms)),))
    if c_zero:
        q = p.add("Add", (q, p.as_float(c_zero)))
    p.saturate(q, p.dtype(c_zero) if c_zero else p.dtype(a), node.outputs[0])


def _matmul_nbits(p: Pieces, node: Node) -> None:
    """com.microsoft MatMulNBits: B is [N, blocks, block_size * bits / 8] bytes, values packed from
    the low bits up; scales [N * blocks]; zero points packed the same way per row (default
    2^(bits-1)) or given as floats. Dequantized here to a float32 [K, N] matrix."""
    a, b, scales = node.inputs[:3]
    zeros = node.inputs[3] if len(node.inputs) > 3 else ""
    g_idx = node.inputs[4] if len(node.inputs) > 4 else ""
    bias = node.inputs[5] if len(node.inputs) > 5 else ""
    bits, block = node.attrs.get("bits", 4), node.attrs["block_size"]
    k, n = node.attrs["K"], node.attrs["N"]
    if bits not in (2, 4, 8):
        raise UnsupportedError(f"MatMulNBits '{node.name}' has {bits}-bit weights; webjit reads 2, 4 and 8 bits")
    if g_idx:
        raise UnsupportedError(f"MatMulNBits '{node.name}' reorders its blocks with g_idx, which webjit does not support")
    for name, what in ((b, "weights"), (scales, "scales"), (zeros, "zero points")):
        if name and name not in p.graph.constants:
            raise UnsupportedError(f"MatMulNBits '{node.name}' takes its {what} from '{name}', which webjit needs "
                                   "at compile time (it dequantizes them when compiling)")
    blocks = -(-k // block)
    q = _unpack(p.graph.constants[b].reshape(n, -1), bits)[:, :blocks * block].reshape(n, blocks, block)
    scale = p.graph.constants[scales].astype(np.float32).reshape(n, blocks)
    if not zeros:
        zero = np.full((n, blocks), float(1 << (bits - 1)), np.float32)
    elif p.graph.constants[zeros].dtype == np.uint8:
        zero = _unpack(p.graph.constants[zeros].reshape(n, -1), bits)[:, :blocks].astype(np.float32)
    else:
        zero = p.graph.constants[zeros].astype(np.float32).reshape(n, blocks)
    if zeros and p.graph.constants[zeros].dtype != np.uint8:  # float zero points: x * scale - zero * scale
        weights = q.astype(np.float32) * scale[:, :, None] - (zero * scale)[:, :, None]
    else:
        weights = (q.astype(np.float32) - zero[:, :, None]) * scale[:, :, None]
    matrix = p.const("weights", np.ascontiguousarray(weights.reshape(n, blocks * block)[:, :k].T))
    af = p.as_float(a)
    out = node.outputs[0] if p.dtype(a) == "float32" and not bias else None
    y = p.add("MatMul", (af, matrix), output=out)
    if bias:
        y = p.add("Add", (y, p.as_float(bias)), output=node.outputs[0] if p.dtype(a) == "float32" else None)
    if p.dtype(a) != "float32":
        p.add("Cast", (y,), {"to": ONNX_CODES[p.dtype(a)]}, node.outputs[0])


def _unpack(packed: np.ndarray, bits: int) -> np.ndarray:
    """[rows, bytes] of `bits`-bit values packed from the low bits up -> [rows, values]."""
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    values = (packed[:, :, None] >> shifts) & ((1 << bits) - 1)
    return values.reshape(packed.shape[0], -1)


BUILDERS = {"QuantizeLinear": _quantize, "DequantizeLinear": _dequantize, "DynamicQuantizeLinear": _dynamic_quantize,
            "MatMulInteger": _matmul_integer, "ConvInteger": _conv_integer, "QLinearMatMul": _qlinear_matmul,
            "QLinearConv": _qlinear_conv, "MatMulNBits": _matmul_nbits, "QLinearAdd": _qlinear_add}
