"""ONNX ops as numpy functions: the reference semantics of every op webjit compiles.

One function per op; inputs are positional (None for an omitted optional input), the
ONNX attributes are keyword arguments with the spec's defaults. Each returns a tuple of
arrays. `OPS` is the one table of supported ops. The reference interpreter runs these,
constant folding runs these, and shape inference runs them on zero-stride placeholders.
"""
from __future__ import annotations

import math

from .errors import UnsupportedError
from .nplike import np
from .ops_more import MORE_OPS
from .spectral import MelWeightMatrix

ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}


def _unary(fn):
    return lambda x: (np.asarray(fn(x)).astype(x.dtype, copy=False),)


def _binary(fn):
    return lambda a, b: (np.asarray(fn(a, b)).astype(np.result_type(a, b), copy=False),)


def _compare(fn):
    return lambda a, b: (np.asarray(fn(a, b)),)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x) if x.size else x.astype(np.float64)


def Div(a, b):
    if np.issubdtype(a.dtype, np.integer):
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.trunc(a.astype(np.float64) / np.where(b == 0, 1, b))
        return (q.astype(a.dtype),)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((a / b).astype(a.dtype),)


def Pow(a, b):
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return (np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype),)


def Mod(a, b, *, fmod=0):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.fmod(a, b) if fmod else np.mod(a, b)
    return (r.astype(a.dtype),)


def Sqrt(x):
    with np.errstate(invalid="ignore"):
        return (np.sqrt(x).astype(x.dtype),)


def Log(x):
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.log(x).astype(x.dtype),)


def Reciprocal(x):
    with np.errstate(divide="ignore"):
        return ((1 / x).astype(x.dtype),)


def Exp(x):
    with np.errstate(over="ignore"):
        return (np.exp(x).astype(x.dtype),)


def Sigmoid(x):
    with np.errstate(over="ignore"):
        return ((1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype),)


def Clip(x, lo=None, hi=None, *, min=None, max=None):
    lo = min if lo is None else lo
    hi = max if hi is None else hi
    y = x
    if lo is not None:
        y = np.maximum(y, lo)
    if hi is not None:
        y = np.minimum(y, hi)
    return (np.asarray(y).astype(x.dtype),)


def Where(c, a, b):
    return (np.where(c, a, b).astype(np.result_type(a, b)),)


def Cast(x, *, to, saturate=1):
    dtype = np.dtype(ONNX_DTYPES[to])
    if np.issubdtype(dtype, np.integer) and np.issubdtype(x.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            return (np.trunc(x).astype(dtype),)
    return (x.astype(dtype),)


def CastLike(x, like, *, saturate=1):
    return (x.astype(like.dtype),)


def Identity(x):
    return (x,)


def Gelu(x, *, approximate="none"):
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1 + _erf(x64 / math.sqrt(2)))
    return (y.astype(x.dtype),)


def Softplus(x):
    return (np.logaddexp(0, x.astype(np.float64)).astype(x.dtype),)


def LeakyRelu(x, *, alpha=0.01):
    return (np.where(x >= 0, x, alpha * x).astype(x.dtype),)


def HardSigmoid(x, *, alpha=0.2, beta=0.5):
    return (np.clip(alpha * x + beta, 0, 1).astype(x.dtype),)


def Elu(x, *, alpha=1.0):
    return (np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)).astype(x.dtype),)


def Selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    x64 = x.astype(np.float64)
    return ((gamma * np.where(x64 > 0, x64, alpha * (np.exp(np.minimum(x64, 0)) - 1))).astype(x.dtype),)


def Celu(x, *, alpha=1.0):
    x64 = x.astype(np.float64)
    return ((np.maximum(x64, 0) + np.minimum(0, alpha * (np.exp(np.minimum(x64, 0) / alpha) - 1))).astype(x.dtype),)


def ThresholdedRelu(x, *, alpha=1.0):
    return (np.where(x > alpha, x, 0).astype(x.dtype),)


def Softsign(x):
    return ((x.astype(np.float64) / (1 + np.abs(x.astype(np.float64)))).astype(x.dtype),)


def Mish(x):
    x64 = x.astype(np.float64)
    return ((x64 * np.tanh(np.logaddexp(0, x64))).astype(x.dtype),)


def HardSwish(x):
    x64 = x.astype(np.float64)
    return ((x64 * np.clip(x64 / 6 + 0.5, 0, 1)).astype(x.dtype),)


def Shrink(x, *, bias=0.0, lambd=0.5):
    return (np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)).astype(x.dtype),)


def PRelu(x, slope):
    return (np.where(x < 0, x * slope, x).astype(x.dtype),)


def IsInf(x, *, detect_negative=1, detect_positive=1):
    return (((np.isposinf(x) & bool(detect_positive)) | (np.isneginf(x) & bool(detect_negative))),)


# ---- tensor ops ------------------------------------------------------------------

def Shape(x, *, start=0, end=None):
    return (np.array(x.shape[start:end], dtype=np.int64),)


def Size(x):
    return (np.array(x.size, dtype=np.int64),)


def Constant(*, value=None, value_float=None, value_floats=None, value_int=None, value_ints=None):
    if value is not None:
        return (value,)
    if value_float is not None:
        return (np.array(value_float, dtype=np.float32),)
    if value_floats is not None:
        return (np.array(value_floats, dtype=np.float32),)
    if value_int is not None:
        return (np.array(value_int, dtype=np.int64),)
    return (np.array(value_ints, dtype=np.int64),)


def ConstantOfShape(shape, *, value=None):
    fill = value if value is not None else np.zeros(1, np.float32)
    return (np.full(tuple(int(d) for d in shape), fill.reshape(-1)[0], dtype=fill.dtype),)


def Range(start, limit, delta):
    start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))  # one-element tensors too, as onnxruntime
    return (np.arange(start, limit, delta).astype(start.dtype),)


def Reshape(x, shape, *, allowzero=0):
    dims = [int(d) for d in shape]
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return (x.reshape(dims),)


def Flatten(x, *, axis=1):
    axis = axis + x.ndim if axis < 0 else axis  # axis == rank is valid
    return (x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))),)


def Squeeze(x, axes=None):
    if axes is None:
        return (np.squeeze(x),)
    return (np.squeeze(x, axis=tuple(int(a) % x.ndim for a in axes)),)


def Unsqueeze(x, axes):
    axes = np.asarray(axes).reshape(-1)  # a scalar axis too, as onnxruntime
    out_rank = x.ndim + len(axes)
    y = x
    for a in sorted(int(a) % out_rank for a in axes):
        y = np.expand_dims(y, a)
    return (y,)


def Transpose(x, *, perm=None):
    return (np.transpose(x, perm),)


def Concat(*xs, axis):
    return (np.concatenate([x for x in xs if x is not None], axis=axis),)


def Split(x, split=None, *, axis=0, num_outputs=None):
    axis %= x.ndim
    if split is None:
        n = num_outputs
        size = -(-x.shape[axis] // n)
        split = [min(size, x.shape[axis] - i * size) for i in range(n)]
    bounds = np.cumsum([0] + [int(s) for s in split])
    return tuple(np.take(x, np.arange(bounds[i], bounds[i + 1]), axis=axis) for i in range(len(split)))


def slice_range(start: int, end: int, step: int, size: int) -> range:
    """The indices ONNX Slice takes along an axis of `size`: negative bounds count from the
    end, then clamp to [0, size] (step > 0) or start to [0, size - 1] and end to [-1, size - 1]
    (step < 0). Python's slices differ: they clamp a start below -size to -1 going backwards."""
    start, end = int(start), int(end)
    start, end = start + size if start < 0 else start, end + size if end < 0 else end
    if step > 0:
        return range(min(max(start, 0), size), min(max(end, 0), size), step)
    return range(min(max(start, 0), size - 1), min(max(end, -1), size - 1), step)


def Slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for start, end, axis, step in zip(starts, ends, axes, steps):
        x = np.take(x, list(slice_range(start, end, int(step), x.shape[int(axis)])), axis=int(axis))
    return (np.array(x, order="C"),)


def Gather(data, indices, *, axis=0):
    axis %= data.ndim
    idx = np.where(indices < 0, indices + data.shape[axis], indices)
    return (np.take(data, idx, axis=axis),)


def GatherElements(data, indices, *, axis=0):
    idx = np.where(indices < 0, indices + data.shape[axis], indices)
    # The output has the indices' shape, which may be smaller than data's off the axis.
    window = tuple(slice(None) if d == axis % data.ndim else slice(0, n) for d, n in enumerate(indices.shape))
    return (np.take_along_axis(data[window], idx, axis=axis),)


def GatherND(data, indices, *, batch_dims=0):
    if batch_dims:  # each batch position gathers from its own slice of data
        lead = indices.shape[:batch_dims]
        parts = [GatherND(data[i], indices[i])[0] for i in np.ndindex(*lead)]
        return (np.stack(parts).reshape(lead + parts[0].shape) if parts else
                np.zeros(lead + indices.shape[batch_dims:-1] + data.shape[batch_dims + indices.shape[-1]:], data.dtype),)
    depth = indices.shape[-1]
    idx = np.where(indices < 0, indices + np.array(data.shape[:depth]), indices)
    flat = idx.reshape(-1, depth)
    gathered = data[tuple(flat[:, i] for i in range(depth))]
    return (gathered.reshape(indices.shape[:-1] + data.shape[depth:]),)


def Expand(x, shape):
    target = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
    return (np.broadcast_to(x, target),)


def Tile(x, repeats):
    return (np.tile(x, tuple(int(r) for r in repeats)),)


def Pad(x, pads, value=None, axes=None, *, mode="constant"):
    rank = x.ndim
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    n = len(axes)
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (int(pads[i]), int(pads[i + n]))
    crop = tuple(slice(max(-lo, 0), x.shape[a] - max(-hi, 0)) for a, (lo, hi) in enumerate(widths))
    x = x[crop]  # negative pads remove elements
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode != "constant":
        return (np.pad(x, widths, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode]),)
    fill = 0 if value is None or value.size == 0 else value.reshape(-1)[0]
    return (np.pad(x, widths, constant_values=fill),)


def Trilu(x, k=None, *, upper=1):
    k = 0 if k is None else int(k)
    return ((np.triu(x, k) if upper else np.tril(x, k)).astype(x.dtype),)


def CumSum(x, axis, *, exclusive=0, reverse=0):
    axis = int(axis) % x.ndim
    y = np.flip(x, axis) if reverse else x
    c = np.cumsum(y, axis=axis, dtype=x.dtype)
    if exclusive:
        c = c - y
    return ((np.flip(c, axis) if reverse else c).astype(x.dtype),)


def ArgMax(x, *, axis=0, keepdims=1, select_last_index=0):
    if select_last_index:
        r = x.shape[axis] - 1 - np.argmax(np.flip(x, axis), axis=axis)
    else:
        r = np.argmax(x, axis=axis)
    return ((np.expand_dims(r, axis) if keepdims else r).astype(np.int64),)


# ---- reductions and normalisation -----------------------------------------------------

def _reduce(fn):
    def op(x, axes=None, *, keepdims=1, noop_with_empty_axes=0):
        if axes is None or len(axes) == 0:
            if noop_with_empty_axes:
                return (x,)
            axes = tuple(range(x.ndim))
        axes = tuple(int(a) % x.ndim for a in axes)
        return (np.asarray(fn(x, axes, bool(keepdims))).astype(x.dtype),)
    return op


ReduceMean = _reduce(lambda x, a, k: np.mean(x.astype(np.float64), axis=a, keepdims=k))
ReduceSum = _reduce(lambda x, a, k: np.sum(x.astype(np.float64), axis=a, keepdims=k))
def _lowest(dtype, highest=False):
    """The identity of max (min with highest=True) over `dtype`: -inf, the integer minimum, False."""
    if np.issubdtype(dtype, np.floating):
        return np.inf if highest else -np.inf
    if dtype == np.bool_:
        return highest
    return np.iinfo(dtype).max if highest else np.iinfo(dtype).min


ReduceMax = _reduce(lambda x, a, k: np.max(x, axis=a, keepdims=k, initial=_lowest(x.dtype)))
ReduceMin = _reduce(lambda x, a, k: np.min(x, axis=a, keepdims=k, initial=_lowest(x.dtype, True)))
ReduceProd = _reduce(lambda x, a, k: np.prod(x.astype(np.float64), axis=a, keepdims=k))
ReduceSumSquare = _reduce(lambda x, a, k: np.sum(np.square(x.astype(np.float64)), axis=a, keepdims=k))
ReduceL2 = _reduce(lambda x, a, k: np.sqrt(np.sum(np.square(x.astype(np.float64)), axis=a, keepdims=k)))
ReduceL1 = _reduce(lambda x, a, k: np.sum(np.abs(x.astype(np.float64)), axis=a, keepdims=k))
ReduceLogSum = _reduce(lambda x, a, k: np.log(np.sum(x.astype(np.float64), axis=a, keepdims=k)))


def _logsumexp(x, a, k):
    x64 = x.astype(np.float64)
    if x64.size == 0:
        return np.log(np.sum(np.exp(x64), axis=a, keepdims=k))
    peak = np.max(x64, axis=a, keepdims=True)
    shift = np.where(np.isfinite(peak), peak, 0)
    total = np.log(np.sum(np.exp(x64 - shift), axis=a, keepdims=True)) + shift
    return total if k else np.squeeze(total, axis=a)


ReduceLogSumExp = _reduce(_logsumexp)


def ArgMin(x, *, axis=0, keepdims=1, select_last_index=0):
    return ArgMax(-x, axis=axis, keepdims=keepdims, select_last_index=select_last_index)


def RMSNormalization(x, scale, *, axis=-1, epsilon=1e-5, stash_type=1):
    axes = tuple(range(axis % x.ndim, x.ndim))
    x64 = x.astype(np.float64)
    return ((x64 / np.sqrt(np.mean(x64 * x64, axis=axes, keepdims=True) + epsilon) * scale).astype(x.dtype),)


def LpNormalization(x, *, axis=-1, p=2):
    x64 = x.astype(np.float64)
    norm = np.sum(np.abs(x64), axis=axis, keepdims=True) if p == 1 else np.sqrt(np.sum(x64 * x64, axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(norm == 0, 0, x64 / norm).astype(x.dtype),)


def Resize(x, roi=None, scales=None, sizes=None, **attrs):
    """The numpy reference of Resize (opset 11 and later), from the same tables the import uses."""
    from .resize import resize_maps
    out = x.astype(np.float64)
    for m in resize_maps("Resize", x.shape, roi, scales, sizes, attrs, 19):
        moved = np.moveaxis(out, m.axis, -1) @ m.weights.T
        if m.outside is not None:
            moved = np.where(m.outside, m.extrapolation, moved)
        out = np.moveaxis(moved, -1, m.axis)
    return (out.astype(x.dtype),)


def Upsample(x, scales, *, mode="nearest"):
    from .resize import resize_maps
    out = x.astype(np.float64)
    for m in resize_maps("Upsample", x.shape, None, scales, None, {"mode": mode}, 9):
        out = np.moveaxis(np.moveaxis(out, m.axis, -1) @ m.weights.T, -1, m.axis)
    return (out.astype(x.dtype),)


def LpPool(x, *, p=2, **attrs):
    size = float(np.prod(attrs.get("kernel_shape", [1])))
    avg = AveragePool(np.abs(x.astype(np.float64)) ** p, count_include_pad=1, **attrs)[0]
    return (((avg * size) ** (1.0 / p)).astype(x.dtype),)


def GlobalLpPool(x, *, p=2):
    total = np.sum(np.abs(x.astype(np.float64)) ** p, axis=tuple(range(2, x.ndim)), keepdims=True)
    return ((total ** (1.0 / p)).astype(x.dtype),)


def NegativeLogLikelihoodLoss(x, target, weight=None, *, ignore_index=None, reduction="mean"):
    safe = np.where(target == ignore_index, 0, target) if ignore_index is not None else target
    picked = np.take_along_axis(x.astype(np.float64), np.expand_dims(safe, 1), axis=1).squeeze(1)
    w = np.ones_like(picked) if weight is None else weight.astype(np.float64)[safe]
    if ignore_index is not None:
        w = np.where(target == ignore_index, 0.0, w)
    loss = -picked * w
    if reduction == "none":
        return (loss.astype(x.dtype),)
    if reduction == "sum":
        return (np.asarray(loss.sum()).astype(x.dtype),)
    return (np.asarray(loss.sum() / w.sum()).astype(x.dtype),)


def SoftmaxCrossEntropyLoss(scores, labels, weights=None, *, ignore_index=None, reduction="mean"):
    log_prob = LogSoftmax(scores, axis=1)[0]
    return (*NegativeLogLikelihoodLoss(log_prob, labels, weights, ignore_index=ignore_index, reduction=reduction),
            log_prob)


def Hardmax(x, *, axis=-1):
    axis %= x.ndim
    hit = np.arange(x.shape[axis]).reshape([-1 if d == axis else 1 for d in range(x.ndim)]) == \
        np.argmax(x, axis=axis, keepdims=True)
    return (hit.astype(x.dtype),)


def Mean(*xs):
    total = sum(x.astype(np.float64) for x in xs)
    return ((total / len(xs)).astype(xs[0].dtype),)


def Softmax(x, *, axis=-1):
    x64 = x.astype(np.float64)
    e = np.exp(x64 - np.max(x64, axis=axis, keepdims=True))
    return ((e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype),)


def LogSoftmax(x, *, axis=-1):
    x64 = x.astype(np.float64)
    s = x64 - np.max(x64, axis=axis, keepdims=True)
    return ((s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))).astype(x.dtype),)


def LayerNormalization(x, scale, bias=None, *, axis=-1, epsilon=1e-5, stash_type=1):
    axes = tuple(range(axis % x.ndim, x.ndim))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    var = np.square(x64 - mean).mean(axis=axes, keepdims=True)
    y = (x64 - mean) / np.sqrt(var + epsilon)
    if scale is not None:  # omitted only by webjit's own InstanceNormalization and GroupNormalization rows
        y = y * scale
    if bias is not None:
        y = y + bias
    return (y.astype(x.dtype),)


def BatchNormalization(x, scale, bias, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon) * scale.reshape(shape) + bias.reshape(shape)
    return (y.astype(x.dtype),)


# ---- matrix products, convolution, pooling -----------------------------------------------

def MatMul(a, b):
    return (np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype),)


def Gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    a = a.T if transA else a
    b = b.T if transB else b
    y = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    if c is not None and beta != 0:  # beta 0 ignores C, inf and NaN included, as onnxruntime does
        y = y + beta * c
    return (y.astype(a.dtype),)


def conv_output_size(size, kernel, stride, pad_begin, pad_end, dilation, ceil_mode=0):
    span = dilation * (kernel - 1) + 1
    q = size + pad_begin + pad_end - span
    out = (-(-q // stride) if ceil_mode else q // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1  # the last window must start inside the input or its leading padding
    return out


def resolve_pads(auto_pad, pads, in_hw, kernel, strides, dilations):
    """Explicit (top, left, bottom, right) pads for a 2-d window op."""
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        result = [0, 0, 0, 0]
        for i in range(2):
            out = -(-in_hw[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - in_hw[i])
            small, big = total // 2, total - total // 2
            result[i], result[i + 2] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        return tuple(result)
    if auto_pad == "VALID" or pads is None:
        return (0, 0, 0, 0)
    return tuple(int(p) for p in pads)


def Conv(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
    if x.ndim != 4:
        raise UnsupportedError(f"Conv with {x.ndim - 2} spatial dimensions is not supported; only 2-d convolution is")
    n, c, h, wd = x.shape
    co, cig, kh, kw = w.shape
    strides = tuple(strides or (1, 1))
    dilations = tuple(dilations or (1, 1))
    pt, pl, pb, pr = resolve_pads(auto_pad, pads, (h, wd), (kh, kw), strides, dilations)
    oh = conv_output_size(h, kh, strides[0], pt, pb, dilations[0])
    ow = conv_output_size(wd, kw, strides[1], pl, pr, dilations[1])
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cols = np.empty((n, c, kh, kw, oh, ow))
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilations[0], j * dilations[1]
            cols[:, :, i, j] = xp[:, :, y0:y0 + strides[0] * (oh - 1) + 1:strides[0], x0:x0 + strides[1] * (ow - 1) + 1:strides[1]]
    cols = cols.reshape(n, group, cig * kh * kw, oh * ow)
    wg = w.reshape(group, co // group, cig * kh * kw).astype(np.float64)
    y = np.einsum("gok,ngkp->ngop", wg, cols).reshape(n, co, oh, ow)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return (y.astype(x.dtype),)


def _pool(x, kind, kernel_shape, auto_pad, pads, strides, dilations, ceil_mode, count_include_pad):
    if x.ndim != 4:
        raise UnsupportedError(f"{kind} pooling with {x.ndim - 2} spatial dimensions is not supported; only 2-d pooling is")
    n, c, h, w = x.shape
    kh, kw = kernel_shape
    strides = tuple(strides or (1, 1))
    dilations = tuple(dilations or (1, 1))
    pt, pl, pb, pr = resolve_pads(auto_pad, pads, (h, w), (kh, kw), strides, dilations)
    oh = conv_output_size(h, kh, strides[0], pt, pb, dilations[0], ceil_mode)
    ow = conv_output_size(w, kw, strides[1], pl, pr, dilations[1], ceil_mode)
    y = np.empty((n, c, oh, ow), np.float64)
    x64 = x.astype(np.float64)
    for oy in range(oh):
        for ox in range(ow):
            ys = oy * strides[0] - pt + dilations[0] * np.arange(kh)
            xs = ox * strides[1] - pl + dilations[1] * np.arange(kw)
            ys_in, xs_in = ys[(ys >= 0) & (ys < h)], xs[(xs >= 0) & (xs < w)]
            window = x64[:, :, ys_in][:, :, :, xs_in]
            if kind == "max":
                y[:, :, oy, ox] = window.max(axis=(2, 3))
            else:
                ys_pad = ys[(ys < h + pb)]
                xs_pad = xs[(xs < w + pr)]
                count = len(ys_pad) * len(xs_pad) if count_include_pad else len(ys_in) * len(xs_in)
                y[:, :, oy, ox] = window.sum(axis=(2, 3)) / count
    return (y.astype(x.dtype),)


def MaxPool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape, pads=None, storage_order=0, strides=None):
    return _pool(x, "max", kernel_shape, auto_pad, pads, strides, dilations, ceil_mode, 0)


def AveragePool(x, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None, kernel_shape, pads=None, strides=None):
    return _pool(x, "avg", kernel_shape, auto_pad, pads, strides, dilations, ceil_mode, count_include_pad)


def GlobalAveragePool(x):
    return (x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype),)


def GlobalMaxPool(x):
    return (x.max(axis=tuple(range(2, x.ndim)), keepdims=True),)


OPS = {
    # elementwise
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": Div,
    "Pow": Pow, "Mod": Mod, "Max": lambda *xs: (np.asarray(np.maximum.reduce(np.broadcast_arrays(*xs))),),
    "Min": lambda *xs: (np.asarray(np.minimum.reduce(np.broadcast_arrays(*xs))),),
    "Sum": lambda *xs: (np.asarray(sum(xs[1:], xs[0])),),
    "Equal": _compare(np.equal), "Less": _compare(np.less), "Greater": _compare(np.greater),
    "LessOrEqual": _compare(np.less_equal), "GreaterOrEqual": _compare(np.greater_equal),
    "And": _compare(np.logical_and), "Or": _compare(np.logical_or), "Xor": _compare(np.logical_xor),
    "Not": lambda x: (np.logical_not(x),),
    "Neg": _unary(np.negative), "Abs": _unary(np.abs), "Sqrt": Sqrt, "Exp": Exp, "Log": Log,
    "Reciprocal": Reciprocal, "Erf": _unary(_erf), "Tanh": _unary(np.tanh), "Sigmoid": Sigmoid,
    "Relu": _unary(lambda x: np.maximum(x, 0)), "Floor": _unary(np.floor), "Ceil": _unary(np.ceil),
    "Round": _unary(np.round), "Sign": _unary(np.sign), "Sin": _unary(np.sin), "Cos": _unary(np.cos),
    "IsNaN": lambda x: (np.isnan(x),), "Clip": Clip, "Where": Where, "Cast": Cast, "CastLike": CastLike,
    "Identity": Identity, "Gelu": Gelu, "Softplus": Softplus, "LeakyRelu": LeakyRelu,
    "HardSigmoid": HardSigmoid, "Elu": Elu, "Selu": Selu, "Celu": Celu, "ThresholdedRelu": ThresholdedRelu,
    "Softsign": Softsign, "Mish": Mish, "HardSwish": HardSwish, "Shrink": Shrink, "PRelu": PRelu, "IsInf": IsInf,
    # tensor
    "Shape": Shape, "Size": Size, "Constant": Constant, "ConstantOfShape": ConstantOfShape, "Range": Range,
    "Reshape": Reshape, "Flatten": Flatten, "Squeeze": Squeeze, "Unsqueeze": Unsqueeze,
    "Transpose": Transpose, "Concat": Concat, "Split": Split, "Slice": Slice, "Gather": Gather,
    "GatherElements": GatherElements, "GatherND": GatherND, "Expand": Expand, "Tile": Tile, "Pad": Pad, "Trilu": Trilu,
    "CumSum": CumSum, "ArgMax": ArgMax,
    # reductions and normalisation
    "ReduceMean": ReduceMean, "ReduceSum": ReduceSum, "ReduceMax": ReduceMax, "ReduceMin": ReduceMin,
    "ReduceProd": ReduceProd, "ReduceSumSquare": ReduceSumSquare, "ReduceL2": ReduceL2, "ReduceL1": ReduceL1,
    "ReduceLogSum": ReduceLogSum, "ReduceLogSumExp": ReduceLogSumExp, "ArgMin": ArgMin,
    "RMSNormalization": RMSNormalization, "LpNormalization": LpNormalization, "Mean": Mean, "Resize": Resize,
    "Upsample": Upsample, "Hardmax": Hardmax, "NegativeLogLikelihoodLoss": NegativeLogLikelihoodLoss,
    "SoftmaxCrossEntropyLoss": SoftmaxCrossEntropyLoss, "LpPool": LpPool, "GlobalLpPool": GlobalLpPool,
    **{name: _unary(getattr(np, fn)) for name, fn in (("Tan", "tan"), ("Sinh", "sinh"), ("Cosh", "cosh"),
                                                      ("Asinh", "arcsinh"), ("Acosh", "arccosh"), ("Atanh", "arctanh"))},
    "Softmax": Softmax, "LogSoftmax": LogSoftmax, "LayerNormalization": LayerNormalization,
    "BatchNormalization": BatchNormalization,
    # products, convolution, pooling
    "MatMul": MatMul, "Gemm": Gemm, "Conv": Conv, "MaxPool": MaxPool, "AveragePool": AveragePool,
    "GlobalAveragePool": GlobalAveragePool, "GlobalMaxPool": GlobalMaxPool,
    **MORE_OPS,  # bitwise, Atan/Asin/Acos, layout, windows, normalisation, Det (ops_more.py)
    # constant tables (their inputs must be constants: they always fold)
    "MelWeightMatrix": MelWeightMatrix,
}
