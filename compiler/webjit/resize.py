"""Resize as constant tables: every resized axis is a fixed linear map (shapes are static), so
the import writes Resize as one Gather per axis (nearest: exact copies) or one MatMul by a
constant [out, in] matrix per axis (linear, cubic, antialiased). The tables follow the ONNX
definition: coordinate transformation modes, nearest modes, cubic_coeff_a, exclude_outside,
tf_crop_and_resize's roi and extrapolation_value, antialias, axes, keep_aspect_ratio_policy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UnsupportedError

DEFAULTS = {"antialias": 0, "coordinate_transformation_mode": "half_pixel", "cubic_coeff_a": -0.75,
            "exclude_outside": 0, "extrapolation_value": 0.0, "keep_aspect_ratio_policy": "stretch",
            "mode": "nearest", "nearest_mode": "round_prefer_floor"}
OPSET_10 = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}  # Resize-10 and Upsample


@dataclass(frozen=True)
class AxisMap:
    """One resized axis: out[i] = sum_j weights[i, j] * x[j], or `extrapolation` where `outside`."""
    axis: int
    size: int
    weights: np.ndarray  # [size, input size], float64
    indices: np.ndarray | None  # nearest mode: the one input index of each output (exact)
    outside: np.ndarray | None  # tf_crop_and_resize: outputs that take extrapolation_value
    extrapolation: float


def resize_maps(name: str, shape: tuple[int, ...], roi, scales, sizes, attrs: dict, opset: int) -> list[AxisMap]:
    """The per-axis maps of Resize node `name` on an input of `shape`."""
    a = {**DEFAULTS, **(OPSET_10 if opset < 11 else {}), **attrs}
    rank = len(shape)
    axes = [int(x) % rank for x in a.get("axes", range(rank))]
    if a["mode"] not in ("nearest", "linear", "cubic"):
        raise UnsupportedError(f"Resize '{name}' has mode {a['mode']!r}; ONNX defines nearest, linear and cubic")
    roi = None if roi is None or np.asarray(roi).size == 0 else [float(v) for v in np.asarray(roi).reshape(-1)]
    scale = [1.0] * rank
    out = list(shape)
    if sizes is not None and np.asarray(sizes).size:
        given = [int(v) for v in np.asarray(sizes).reshape(-1)]
        for i, axis in enumerate(axes):
            out[axis] = given[i]
        scale = [out[d] / shape[d] if shape[d] else 1.0 for d in range(rank)]
        policy = a["keep_aspect_ratio_policy"]
        if policy != "stretch":
            chosen = [scale[d] for d in axes]
            common = min(chosen) if policy == "not_larger" else max(chosen)
            scale = [common if d in axes else 1.0 for d in range(rank)]
            out = [int(common * shape[d] + 0.5) if d in axes else shape[d] for d in range(rank)]
    elif scales is not None and np.asarray(scales).size:
        given = [float(v) for v in np.asarray(scales).reshape(-1)]
        for i, axis in enumerate(axes):
            scale[axis] = given[i]
        out = [int(scale[d] * shape[d]) for d in range(rank)]
    else:
        raise UnsupportedError(f"Resize '{name}' gives neither scales nor sizes")
    if roi is not None and len(roi) == 2 * len(axes) and len(axes) != rank:  # roi lists only the axes
        full = [0.0] * rank + [1.0] * rank
        for i, axis in enumerate(axes):
            full[axis], full[rank + axis] = roi[i], roi[len(axes) + i]
        roi = full
    maps = []
    for axis in axes:
        span = None if roi is None else (roi[axis], roi[axis + rank])
        identity = np.isclose(scale[axis], 1.0) and out[axis] == shape[axis] and (
            span is None or (np.isclose(span[0], 0.0) and np.isclose(span[1], 1.0)))
        if not identity:
            maps.append(axis_map(name, axis, shape[axis], out[axis], scale[axis], span, a))
    return maps


def axis_map(name: str, axis: int, n: int, size: int, scale: float, span, a: dict) -> AxisMap:
    mode = a["coordinate_transformation_mode"]
    y = np.arange(size, dtype=np.float64)
    width = scale * n  # the output length before rounding, as the coordinate modes use it
    outside = None
    if mode == "align_corners":
        x = np.zeros(size) if width == 1 else y * (n - 1) / (width - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_crop_and_resize":
        if span is None:
            raise UnsupportedError(f"Resize '{name}' uses tf_crop_and_resize without a roi")
        start, end = span
        x = np.full(size, (end - start) * (n - 1) / 2) if width == 1 else y * (end - start) * (n - 1) / (width - 1)
        x = x + start * (n - 1)
        outside = (x < 0) | (x > n - 1)
    elif mode == "pytorch_half_pixel":
        x = np.full(size, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        x = n / 2 * (1 - size / width) + (y + 0.5) / scale - 0.5
    else:
        raise UnsupportedError(f"Resize '{name}' has coordinate_transformation_mode {mode!r}, which ONNX does not "
                               "define")
    base = np.floor(x)
    ratio = np.where(x == base, 1.0, x - base)  # in (0, 1]: the input pixel left of x is preferred
    base = x - ratio  # an integer
    coeffs = taps_coefficients(name, ratio, scale, a)
    count = coeffs.shape[1]
    taps = base[:, None] + np.arange(1 - count // 2, 1 + count // 2)[None, :]
    if a["exclude_outside"]:
        coeffs = np.where((taps < 0) | (taps > n - 1), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    clamped = np.clip(taps, 0, n - 1).astype(np.int64)
    weights = np.zeros((size, n))
    for k in range(count):  # taps clamped to the edge add up on the edge pixel
        np.add.at(weights, (np.arange(size), clamped[:, k]), coeffs[:, k])
    indices = None
    if a["mode"] == "nearest":
        indices = clamped[np.arange(size), np.argmax(coeffs, axis=1)]
    if outside is not None:
        weights[outside] = 0.0
    return AxisMap(axis, size, weights, indices, outside if outside is not None and outside.any() else None,
                   float(a["extrapolation_value"]))


def taps_coefficients(name: str, ratio: np.ndarray, scale: float, a: dict) -> np.ndarray:
    """[outputs, taps] weights of the taps around each sample point (ratio in (0, 1])."""
    mode = a["mode"]
    if mode == "nearest":
        if a.get("antialias"):
            raise UnsupportedError(f"Resize '{name}' asks for antialias with mode nearest, which ONNX does not define")
        rule = a["nearest_mode"]
        integral = ratio == 1.0
        if rule == "round_prefer_floor":
            right = ratio > 0.5
        elif rule == "round_prefer_ceil":
            right = ratio >= 0.5
        elif rule == "floor":
            right = np.zeros_like(ratio, dtype=bool)
        elif rule == "ceil":
            right = np.ones_like(ratio, dtype=bool)
        else:
            raise UnsupportedError(f"Resize '{name}' has nearest_mode {rule!r}, which ONNX does not define")
        right = right | integral
        return np.stack([~right, right], axis=1).astype(np.float64)
    A = float(a["cubic_coeff_a"])
    if a.get("antialias") and scale < 1.0:
        reach = 1.0 if mode == "linear" else 2.0
        start = int(np.floor(-reach / scale) + 1)
        offsets = np.arange(start, 2 - start)  # the filter widened by 1 / scale
        t = np.abs((offsets[None, :] - ratio[:, None]) * scale)
        coeffs = np.clip(1 - t, 0, 1) if mode == "linear" else cubic(t, A)
        return coeffs / coeffs.sum(axis=1, keepdims=True)
    if mode == "linear":
        return np.stack([1 - ratio, ratio], axis=1)
    t = np.stack([ratio + 1, ratio, 1 - ratio, 2 - ratio], axis=1)
    return cubic(t, A)


def cubic(t: np.ndarray, A: float) -> np.ndarray:
    """The cubic convolution kernel with coefficient A at distances |t|."""
    t = np.abs(t)
    near = ((A + 2) * t - (A + 3)) * t * t + 1
    far = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))
