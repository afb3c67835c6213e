"""RoiAlign (opset 16): each region of interest resampled to output_height x output_width bins,
each bin the average (or max) of a grid of bilinear samples. With the sample grid fixed
(sampling_ratio > 0, or constant rois that agree on it) the sample positions are arithmetic
on the runtime rois and the values four Gathers from the flattened input, so both backends
run it with no kernel of its own. The reference follows onnx's (and onnxruntime's) rules:
samples beyond [-1, size] count 0, positions clamp to the last row, max mode takes the
largest weighted corner of each sample."""
from __future__ import annotations

import math

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np


def _grid(ratio, extent, bins):
    return int(ratio) if ratio > 0 else max(int(math.ceil(extent / bins)), 1)


def _roi_box(roi, scale, half_pixel):
    offset = 0.5 if half_pixel else 0.0
    x1, y1, x2, y2 = (float(v) * scale - offset for v in roi)
    width, height = x2 - x1, y2 - y1
    if not half_pixel:
        width, height = max(width, 1.0), max(height, 1.0)
    return x1, y1, width, height


def _axis_samples(start, extent, bins, grid, size):
    """Per sample along one axis: (low index, high index, low weight, high weight), 0 weights outside."""
    pos = start + extent / bins * (np.repeat(np.arange(bins), grid) + (np.tile(np.arange(grid), bins) + 0.5) / grid)
    valid = (pos >= -1.0) & (pos <= size)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos)
    edge = low >= size - 1
    low = np.where(edge, size - 1, low)
    high = np.where(edge, size - 1, low + 1)
    frac = np.where(edge, low, pos) - low
    return low.astype(np.int64), high.astype(np.int64), (1 - frac) * valid, frac * valid


def RoiAlign(x, rois, batch_indices, *, coordinate_transformation_mode="half_pixel", mode="avg", output_height=1,
             output_width=1, sampling_ratio=0, spatial_scale=1.0):
    n, c, h, w = x.shape
    half_pixel = coordinate_transformation_mode == "half_pixel"
    out = np.zeros((rois.shape[0], c, output_height, output_width))
    for r, roi in enumerate(rois):
        x1, y1, width, height = _roi_box(roi, spatial_scale, half_pixel)
        gh, gw = _grid(sampling_ratio, height, output_height), _grid(sampling_ratio, width, output_width)
        ylo, yhi, wylo, wyhi = _axis_samples(y1, height, output_height, gh, h)
        xlo, xhi, wxlo, wxhi = _axis_samples(x1, width, output_width, gw, w)
        plane = x[int(batch_indices[r])].astype(np.float64)
        corners = [plane[:, rows][:, :, cols] * (wr[:, None] * wc[None, :])
                   for rows, wr in ((ylo, wylo), (yhi, wyhi)) for cols, wc in ((xlo, wxlo), (xhi, wxhi))]
        samples = sum(corners) if mode == "avg" else np.maximum.reduce(corners)
        grid = samples.reshape(c, output_height, gh, output_width, gw)
        out[r] = grid.mean(axis=(2, 4)) if mode == "avg" else grid.max(axis=(2, 4))
    return (out.astype(x.dtype),)


def roialign_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    a = node.attrs
    x, rois, batch = node.inputs[:3]
    shape = graph.types[x].shape
    if len(shape) != 4:
        raise UnsupportedError(f"RoiAlign '{node.name}' has a {len(shape)}-d input; ONNX defines it on 4-d tensors")
    _, c, h, w = shape
    r = graph.types[rois].shape[0]
    oh, ow = int(a.get("output_height", 1)), int(a.get("output_width", 1))
    ratio = int(a.get("sampling_ratio", 0))
    scale = float(a.get("spatial_scale", 1.0))
    half_pixel = a.get("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    if ratio > 0:
        gh = gw = ratio
    elif rois in graph.constants:  # the grid follows each roi's size: one grid for all, or no vector form
        boxes = [_roi_box(roi, scale, half_pixel) for roi in graph.constants[rois]]
        grids = {(_grid(0, b[3], oh), _grid(0, b[2], ow)) for b in boxes}
        if len(grids) != 1:
            raise UnsupportedError(f"RoiAlign '{node.name}' has sampling_ratio 0 and rois of different sizes, so "
                                   "each needs its own sample grid; webjit needs one (give a sampling_ratio)")
        gh, gw = grids.pop()
    else:
        raise UnsupportedError(f"RoiAlign '{node.name}' has sampling_ratio 0 with rois computed at run time, so its "
                               "sample grid depends on the data; give a sampling_ratio or constant rois")
    f = lambda tag, v: const(f"k_{tag}", np.array(v, np.float32))  # k_: constants never share a tensor's name
    ints = lambda tag, v: const(f"k_{tag}", np.array(v, np.int64))
    parts = []
    axes = {}
    for axis, column, bins, grid, size in (("x", 0, ow, gw, w), ("y", 1, oh, gh, h)):
        p = lambda tag, axis=axis: t(f"{axis}_{tag}")
        frac = (np.repeat(np.arange(bins), grid) + (np.tile(np.arange(grid), bins) + 0.5) / grid) / bins
        parts += [Node("Slice", p("first"), (rois, ints(f"{axis}_s0", [column]), ints(f"{axis}_e0", [column + 1]),
                                             ints(f"{axis}_a0", [1])), (p("v1"),)),
                  Node("Slice", p("second"), (rois, ints(f"{axis}_s1", [column + 2]), ints(f"{axis}_e1", [column + 3]),
                                              ints(f"{axis}_a1", [1])), (p("v2"),)),
                  Node("Mul", p("scale1"), (p("v1"), f(f"{axis}_scale", scale)), (p("s1"),)),
                  Node("Mul", p("scale2"), (p("v2"), f(f"{axis}_scale2", scale)), (p("s2"),)),
                  Node("Sub", p("start"), (p("s1"), f(f"{axis}_offset", 0.5 if half_pixel else 0.0)), (p("start"),)),
                  Node("Sub", p("extent"), (p("s2"), p("s1")), (p("extent0"),))]
        extent = p("extent0")
        if not half_pixel:
            parts.append(Node("Max", p("at_least_1"), (extent, f(f"{axis}_one", 1.0)), (p("extent1"),)))
            extent = p("extent1")
        parts += [Node("Mul", p("span"), (extent, f(f"{axis}_frac", frac)), (p("span"),)),
                  Node("Add", p("pos"), (p("start"), p("span")), (p("pos"),)),  # [R, samples]
                  Node("GreaterOrEqual", p("above"), (p("pos"), f(f"{axis}_m1", -1.0)), (p("above"),)),
                  Node("LessOrEqual", p("below"), (p("pos"), f(f"{axis}_size", float(size))), (p("below"),)),
                  Node("And", p("inside"), (p("above"), p("below")), (p("inside"),)),
                  Node("Cast", p("valid"), (p("inside"),), (p("valid"),), {"to": 1}),
                  Node("Max", p("clamp0"), (p("pos"), f(f"{axis}_zero", 0.0)), (p("pc"),)),
                  Node("Floor", p("floor"), (p("pc"),), (p("fl"),)),
                  Node("GreaterOrEqual", p("edge"), (p("fl"), f(f"{axis}_last", float(size - 1))), (p("edge"),)),
                  Node("Where", p("low"), (p("edge"), f(f"{axis}_last2", float(size - 1)), p("fl")), (p("low"),)),
                  Node("Add", p("next"), (p("low"), f(f"{axis}_one2", 1.0)), (p("next"),)),
                  Node("Where", p("high"), (p("edge"), p("low"), p("next")), (p("high"),)),
                  Node("Where", p("posv"), (p("edge"), p("low"), p("pc")), (p("pv"),)),
                  Node("Sub", p("frac"), (p("pv"), p("low")), (p("lf"),)),
                  Node("Sub", p("rest"), (f(f"{axis}_one3", 1.0), p("lf")), (p("hf"),)),
                  Node("Mul", p("w_low"), (p("hf"), p("valid")), (p("wlo"),)),
                  Node("Mul", p("w_high"), (p("lf"), p("valid")), (p("whi"),)),
                  Node("Cast", p("i_low"), (p("low"),), (p("ilo"),), {"to": 7}),
                  Node("Cast", p("i_high"), (p("high"),), (p("ihi"),), {"to": 7})]
        axes[axis] = p
    py, px = axes["y"], axes["x"]
    sy, sx = oh * gh, ow * gw
    parts += [Node("Reshape", t("b_col"), (batch, ints("b_shape", [r, 1])), (t("b_col"),)),
              Node("Mul", t("b_c"), (t("b_col"), ints("channels", c)), (t("b_c"),)),
              Node("Add", t("planes"), (t("b_c"), ints("channel_ids", np.arange(c)[None, :])), (t("planes"),)),
              Node("Mul", t("base0"), (t("planes"), ints("plane_size", h * w)), (t("base0"),)),
              Node("Reshape", t("base"), (t("base0"), ints("base_shape", [r, c, 1, 1])), (t("base"),)),
              Node("Reshape", t("x_flat"), (x, ints("all", [-1])), (t("x_flat"),))]
    for tag, source in (("lo", "ilo"), ("hi", "ihi")):
        parts += [Node("Mul", t(f"row_{tag}0"), (py(source), ints(f"width_{tag}", w)), (t(f"row_{tag}0"),)),
                  Node("Reshape", t(f"row_{tag}"), (t(f"row_{tag}0"), ints(f"row_shape_{tag}", [r, 1, sy, 1])),
                       (t(f"row_{tag}"),)),
                  Node("Reshape", t(f"col_{tag}"), (px(source), ints(f"col_shape_{tag}", [r, 1, 1, sx])), (t(f"col_{tag}"),)),
                  Node("Reshape", t(f"wy_{tag}"), (py(f"w{tag}"), ints(f"wy_shape_{tag}", [r, 1, sy, 1])), (t(f"wy_{tag}"),)),
                  Node("Reshape", t(f"wx_{tag}"), (px(f"w{tag}"), ints(f"wx_shape_{tag}", [r, 1, 1, sx])), (t(f"wx_{tag}"),)),
                  Node("Add", t(f"base_{tag}"), (t("base"), t(f"row_{tag}")), (t(f"base_{tag}"),))]
    corners = []
    for ry in ("lo", "hi"):
        for rx in ("lo", "hi"):
            k = f"{ry}{rx}"
            parts += [Node("Add", t(f"idx_{k}"), (t(f"base_{ry}"), t(f"col_{rx}")), (t(f"idx_{k}"),)),
                      Node("Gather", t(f"val_{k}"), (t("x_flat"), t(f"idx_{k}")), (t(f"val_{k}"),), {"axis": 0}),
                      Node("Mul", t(f"wt_{k}"), (t(f"wy_{ry}"), t(f"wx_{rx}")), (t(f"wt_{k}"),)),
                      Node("Mul", t(f"term_{k}"), (t(f"val_{k}"), t(f"wt_{k}")), (t(f"term_{k}"),))]
            corners.append(t(f"term_{k}"))
    combine = "Add" if a.get("mode", "avg") == "avg" else "Max"
    parts += [Node(combine, t("pair1"), (corners[0], corners[1]), (t("pair1"),)),
              Node(combine, t("pair2"), (corners[2], corners[3]), (t("pair2"),)),
              Node(combine, t("samples"), (t("pair1"), t("pair2")), (t("samples"),)),
              Node("Reshape", t("bins"), (t("samples"), ints("bins_shape", [r, c, oh, gh, ow, gw])), (t("bins"),)),
              Node("ReduceMean" if combine == "Add" else "ReduceMax", node.name, (t("bins"), ints("grid_axes", [3, 5])),
                   node.outputs, {"keepdims": 0})]
    return tuple(parts)
