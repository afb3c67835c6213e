"""Reference semantics (numpy) of the bitwise, trigonometric, layout, window, normalisation
and small linear-algebra ops; merged into `ops.OPS`. Same conventions as ops.py: inputs
positional, ONNX attributes as keyword arguments with the spec's defaults, a tuple back."""
from __future__ import annotations

from .errors import UnsupportedError
from .nplike import np
from .optimizers import OPTIMIZER_OPS
from .roialign import RoiAlign
from .tfidf import TfIdfVectorizer

ONNX_TO_NUMPY = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
                 11: np.float64}


def BitShift(x, y, *, direction):
    """Shifts by an amount read as unsigned: one at or past the width gives 0 (LEFT) or the
    sign fill (RIGHT, arithmetic for signed types), as onnxruntime does."""
    bits = x.dtype.itemsize * 8
    amount = y.astype(x.dtype).view(np.dtype(f"u{x.dtype.itemsize}")).astype(np.uint64)
    wide = np.minimum(amount, bits - 1).astype(x.dtype)
    if direction == "LEFT":
        return (np.where(amount >= bits, 0, np.left_shift(x, wide)).astype(x.dtype),)
    if np.issubdtype(x.dtype, np.signedinteger):
        return (np.right_shift(x, wide).astype(x.dtype),)
    return (np.where(amount >= bits, 0, np.right_shift(x, wide)).astype(x.dtype),)


def BitCast(x, *, to):
    dtype = np.dtype(ONNX_TO_NUMPY[to])
    if dtype.itemsize != x.dtype.itemsize:
        raise UnsupportedError(f"BitCast from {x.dtype} to {dtype} changes the element size, which webjit does not do")
    return (np.ascontiguousarray(x).view(dtype).reshape(x.shape),)


def Atan(x):
    return (np.arctan(x).astype(x.dtype),)


def _depth_space_perm(mode, to_depth):
    if to_depth:
        return [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4]
    return [0, 3, 4, 1, 5, 2] if mode == "DCR" else [0, 1, 4, 2, 5, 3]


def space_depth_shapes(shape, blocksize, mode, to_depth):
    """(the 6-d shape, its permutation, the result shape) of SpaceToDepth / DepthToSpace."""
    n, c, h, w = shape
    b = int(blocksize)
    if to_depth:
        six = [n, c, h // b, b, w // b, b]
        return six, _depth_space_perm(mode, True), [n, c * b * b, h // b, w // b]
    six = [n, b, b, c // (b * b), h, w] if mode == "DCR" else [n, c // (b * b), b, b, h, w]
    return six, _depth_space_perm(mode, False), [n, c // (b * b), h * b, w * b]


def SpaceToDepth(x, *, blocksize, mode="DCR"):
    six, perm, out = space_depth_shapes(x.shape, blocksize, mode, True)
    return (np.ascontiguousarray(x.reshape(six).transpose(perm)).reshape(out),)


def DepthToSpace(x, *, blocksize, mode="DCR"):
    six, perm, out = space_depth_shapes(x.shape, blocksize, mode, False)
    return (np.ascontiguousarray(x.reshape(six).transpose(perm)).reshape(out),)


def _window(coefficients):
    def op(size, *, output_datatype=1, periodic=1):
        n = int(np.asarray(size).reshape(-1)[0])
        denominator = n if periodic else n - 1
        k = np.arange(n, dtype=np.float64)
        phase = 2 * np.pi * k / denominator if denominator else np.zeros(n)
        y = sum(c * np.cos(m * phase) for m, c in enumerate(coefficients))
        return (y.astype(ONNX_TO_NUMPY[output_datatype]),)
    return op


BlackmanWindow = _window((0.42, -0.5, 0.08))
HannWindow = _window((0.5, -0.5))
HammingWindow = _window((25 / 46, -21 / 46))


def EyeLike(x, *, dtype=None, k=0):
    out = np.dtype(ONNX_TO_NUMPY[dtype]) if dtype is not None else x.dtype
    return (np.eye(x.shape[0], x.shape[1], k=int(k), dtype=out),)


def CumProd(x, axis, *, exclusive=0, reverse=0):
    axis = int(np.asarray(axis).reshape(-1)[0]) % x.ndim
    y = np.flip(x, axis) if reverse else x
    c = np.cumprod(y, axis=axis, dtype=x.dtype)
    if exclusive:
        c = np.concatenate([np.ones_like(np.take(c, [0], axis=axis)), np.take(c, range(c.shape[axis] - 1), axis=axis)],
                           axis=axis)
    return ((np.flip(c, axis) if reverse else c).astype(x.dtype),)


def ReverseSequence(x, lens, *, batch_axis=1, time_axis=0):
    y = np.array(x)
    for b in range(x.shape[batch_axis]):
        n = int(lens[b])
        index = [slice(None)] * x.ndim
        index[batch_axis] = b
        index[time_axis] = slice(0, n)
        y[tuple(index)] = np.flip(x[tuple(index)], axis=time_axis - (time_axis > batch_axis))
    return (y,)


def Det(x):
    return (np.linalg.det(x.astype(np.float64)).astype(x.dtype),)


def _moments(x64, axes):
    mean = x64.mean(axis=axes, keepdims=True)
    return mean, np.square(x64 - mean).mean(axis=axes, keepdims=True)


def InstanceNormalization(x, scale, bias, *, epsilon=1e-5):
    x64 = x.astype(np.float64)
    mean, var = _moments(x64, tuple(range(2, x.ndim)))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (((x64 - mean) / np.sqrt(var + epsilon) * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype),)


def GroupNormalization(x, scale, bias, *, epsilon=1e-5, num_groups, stash_type=1):
    n, c = x.shape[:2]
    groups = x.astype(np.float64).reshape(n, num_groups, -1)
    mean, var = _moments(groups, (2,))
    normed = ((groups - mean) / np.sqrt(var + epsilon)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    per_channel = lambda v: v.reshape(shape) if v.size == c else np.repeat(v, c // num_groups).reshape(shape)
    return ((normed * per_channel(scale) + per_channel(bias)).astype(x.dtype),)


def MeanVarianceNormalization(x, *, axes=(0, 2, 3)):
    x64 = x.astype(np.float64)
    mean, var = _moments(x64, tuple(int(a) % x.ndim for a in axes))
    return (((x64 - mean) / (np.sqrt(var) + 1e-9)).astype(x.dtype),)


def LRN(x, *, alpha=0.0001, beta=0.75, bias=1.0, size):
    x64 = x.astype(np.float64)
    square = np.square(x64)
    c = x.shape[1]
    total = np.zeros_like(x64)
    for i in range(c):  # the window [i - floor((size-1)/2), i + ceil((size-1)/2)]
        lo, hi = max(0, i - (size - 1) // 2), min(c - 1, i + -(-(size - 1) // 2))
        total[:, i] = square[:, lo:hi + 1].sum(axis=1)
    return ((x64 / (bias + alpha / size * total) ** beta).astype(x.dtype),)


def NonZero(x):
    return (np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1),)


def Unique(x, *, axis=None, sorted=1):
    """The distinct values (or slices along `axis`), their first indices, the inverse map and the counts;
    sorted=0 keeps the order of first occurrence."""
    values = x.reshape(-1) if axis is None else x
    y, first, inverse, counts = np.unique(values, return_index=True, return_inverse=True, return_counts=True,
                                          axis=None if axis is None else int(axis) % x.ndim)
    inverse = inverse.reshape(-1)
    if not sorted:
        order = np.argsort(first, kind="stable")
        y = np.take(y, order, axis=0 if axis is None else int(axis) % x.ndim)
        first, counts, inverse = first[order], counts[order], np.argsort(order)[inverse]
    return (y, *(np.asarray(v, np.int64) for v in (first, inverse, counts)))


def Binarizer(x, *, threshold=0.0):
    return ((x > threshold).astype(x.dtype),)


def ArrayFeatureExtractor(x, indices):
    """Elements of the last axis at `indices` (a 1-d input gives one row), as onnxruntime does."""
    y = np.take(x, np.asarray(indices).reshape(-1), axis=-1)
    return (y.reshape(1, -1) if x.ndim == 1 else y,)


def _iou_above(a, b, center_point_box, threshold):
    """Whether boxes a and b overlap by more than `threshold` (corners in either order, or centre + size)."""
    if center_point_box:
        (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
        a = (ay - ah / 2, ax - aw / 2, ay + ah / 2, ax + aw / 2)
        b = (by - bh / 2, bx - bw / 2, by + bh / 2, bx + bw / 2)
    lo_a, hi_a = np.minimum(a[:2], a[2:]), np.maximum(a[:2], a[2:])
    lo_b, hi_b = np.minimum(b[:2], b[2:]), np.maximum(b[:2], b[2:])
    sides = np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b)
    if np.any(sides <= 0):
        return False
    inter = sides[0] * sides[1]
    area_a, area_b = np.prod(hi_a - lo_a), np.prod(hi_b - lo_b)
    union = area_a + area_b - inter
    return bool(area_a > 0 and area_b > 0 and union > 0 and inter / union > threshold)


def NonMaxSuppression(boxes, scores, max_output_boxes_per_class=None, iou_threshold=None, score_threshold=None, *,
                      center_point_box=0):
    """Per batch and class, boxes by descending score (first index on ties) above score_threshold, each
    kept unless it overlaps a kept one by more than iou_threshold, at most max_output_boxes_per_class."""
    first = lambda v, default: default if v is None or np.asarray(v).size == 0 else np.asarray(v).reshape(-1)[0]
    limit = max(int(first(max_output_boxes_per_class, 0)), 0)
    iou, floor = float(first(iou_threshold, 0.0)), first(score_threshold, None)
    selected = []
    for b in range(boxes.shape[0]):
        for c in range(scores.shape[1]):
            order = sorted(range(boxes.shape[1]), key=lambda i: (-scores[b, c, i], i))
            kept = []
            for i in order:
                if len(kept) >= limit:
                    break
                if floor is not None and not scores[b, c, i] > floor:
                    continue
                if not any(_iou_above(boxes[b, i], boxes[b, j], center_point_box, iou) for j in kept):
                    kept.append(i)
                    selected.append((b, c, i))
    return (np.array(selected, np.int64).reshape(-1, 3),)


def Compress(x, condition, *, axis=None):
    keep = np.asarray(condition, dtype=bool).reshape(-1)
    if axis is None:
        return (np.compress(keep, x.reshape(-1)),)
    return (np.compress(keep, x, axis=int(axis)),)


MORE_OPS = {
    "BitShift": BitShift, "BitwiseAnd": lambda a, b: (np.bitwise_and(a, b),),
    "BitwiseOr": lambda a, b: (np.bitwise_or(a, b),), "BitwiseXor": lambda a, b: (np.bitwise_xor(a, b),),
    "BitwiseNot": lambda x: (np.invert(x),), "BitCast": BitCast,
    "Atan": Atan, "Asin": lambda x: (np.arcsin(x).astype(x.dtype),), "Acos": lambda x: (np.arccos(x).astype(x.dtype),),
    "SpaceToDepth": SpaceToDepth, "DepthToSpace": DepthToSpace,
    "BlackmanWindow": BlackmanWindow, "HannWindow": HannWindow,
    "HammingWindow": HammingWindow, "EyeLike": EyeLike,
    "CumProd": CumProd, "ReverseSequence": ReverseSequence, "Det": Det,
    "InstanceNormalization": InstanceNormalization, "GroupNormalization": GroupNormalization,
    "MeanVarianceNormalization": MeanVarianceNormalization, "LRN": LRN, "NonZero": NonZero, "Compress": Compress,
    "Unique": Unique, "TfIdfVectorizer": TfIdfVectorizer, "Binarizer": Binarizer,
    "ArrayFeatureExtractor": ArrayFeatureExtractor, **OPTIMIZER_OPS, "NonMaxSuppression": NonMaxSuppression,
    "RoiAlign": RoiAlign,
}
