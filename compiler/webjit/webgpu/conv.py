"""WGSL code generators for Im2Col (convolution as a matmul), Pool (max / average) and
Depthwise (a direct depthwise convolution with the Conv epilogue).

One invocation per output element, workgroups linearised through dispatch_grid; the
workgroup width is the config (webgpu.flat).
Bounds tests are written only for the sides where a window can leave the image.
"""
from __future__ import annotations

from ..errors import CompileError
from ..kernels import Depthwise, Im2Col, Pool, spec_text
from .expr import expr_functions, helper_functions, wgsl_expr
from .flat import FlatConfig, flat_family
from .kernel import Limits, WgslKernel, dispatch_grid
from .wgsl import (check_fits, declare_args, entry_point, f32_literal, i32_literal,
                   linear_workgroup, wgsl_type)


def emit_im2col(spec: Im2Col, config: FlatConfig, limits: Limits) -> WgslKernel:
    """out[img, (ch, ki, kj), (oy, ox)] = x[img, ch, iy, ix], zero where (iy, ix) is padding."""
    total = spec.n * spec.c * spec.kh * spec.kw * spec.oh * spec.ow
    t = wgsl_type(spec.args[0].dtype)
    body = [f"  let ox = o % {spec.ow};", f"  var r = o / {spec.ow};",
            f"  let oy = r % {spec.oh};", f"  r = r / {spec.oh};",
            f"  let kj = r % {spec.kw};", f"  r = r / {spec.kw};",
            f"  let ki = r % {spec.kh};", f"  let plane = r / {spec.kh};",
            f"  let iy = oy * {spec.strides[0]} + ki * {spec.dilations[0]} - {spec.pads[0]};",
            f"  let ix = ox * {spec.strides[1]} + kj * {spec.dilations[1]} - {spec.pads[1]};",
            f"  let e = plane * {spec.h * spec.w} + iy * {spec.w} + ix;"]
    inside = _inside(spec, "iy", "ix")
    if inside:
        body += [f"  var v = {t}(0);", f"  if ({inside}) {{ v = ld0(e); }}", "  st1(o, v);"]
    else:
        body.append("  st1(o, ld0(e));")
    return _kernel(spec, "im2col", total, body, config, limits)


def emit_pool(spec: Pool, config: FlatConfig, limits: Limits) -> WgslKernel:
    """Max or average of each window of every [h, w] plane; padding is never a value,
    average counts it only with count_include_pad; an empty window gives -inf or 0."""
    total = spec.planes * spec.oh * spec.ow
    pad_top, pad_left, pad_bottom, pad_right = spec.pads
    is_max = spec.kind == "max"
    start = f32_literal(float("-inf")) if is_max else "0.0"
    body = [f"  let ox = o % {spec.ow};", f"  let r = o / {spec.ow};",
            f"  let oy = r % {spec.oh};", f"  let plane = r / {spec.oh};",
            f"  let top = oy * {spec.strides[0]} - {pad_top};",
            f"  let left = ox * {spec.strides[1]} - {pad_left};",
            f"  var acc = {start};", "  var inside = 0;", "  var padded = 0;",
            f"  for (var ky = 0; ky < {spec.kh}; ky++) {{",
            f"    let iy = top + ky * {spec.dilations[0]};",
            f"    for (var kx = 0; kx < {spec.kw}; kx++) {{",
            f"      let ix = left + kx * {spec.dilations[1]};"]
    if spec.kind == "avg" and spec.count_include_pad:  # taps inside the padded image
        body.append(f"      if (iy < {spec.h + pad_bottom} && ix < {spec.w + pad_right}) {{ padded += 1; }}")
    update = "acc = wj_max_f(acc, v);" if is_max else "acc += v;"  # NaN-propagating, as in WASM
    tap = f"let v = ld0(plane * {spec.h * spec.w} + iy * {spec.w} + ix); {update} inside += 1;"
    inside = _inside(spec, "iy", "ix")
    body.append(f"      if ({inside}) {{ {tap} }}" if inside else f"      {tap}")
    body += ["    }", "  }"]
    if spec.kind == "avg":
        count = "padded" if spec.count_include_pad else "inside"
        body.append(f"  acc = acc / max(f32({count}), 1.0);")
    body.append("  st1(o, acc);")
    helpers = helper_functions(["bits", "max_f"]) if is_max else ""
    return _kernel(spec, "pool", total, body, config, limits, helpers)


def emit_depthwise(spec: Depthwise, config: FlatConfig, limits: Limits) -> WgslKernel:
    """One invocation per output element: its window clipped to the image, then the epilogue."""
    total = spec.n * spec.c * spec.oh * spec.ow
    (sh, sw), (dh, dw) = spec.strides, spec.dilations
    out = len(spec.args) - 1
    body = [f"  let ox = o % {spec.ow};", f"  let r = o / {spec.ow};",
            f"  let oy = r % {spec.oh};", f"  let plane = r / {spec.oh};",
            f"  let ch = plane % {spec.c};", f"  let img = plane / {spec.c};",
            f"  let top = oy * {sh} - {spec.pads[0]};", f"  let left = ox * {sw} - {spec.pads[1]};",
            # the window rows (columns) inside the image: k in [k0, k1) with 0 <= first + k * d < size
            f"  let ky0 = clamp((-top + {dh - 1}) / {dh}, 0, {spec.kh});",
            f"  let ky1 = max(clamp((({spec.h} - top) + {dh - 1}) / {dh}, 0, {spec.kh}), ky0);",
            f"  let kx0 = clamp((-left + {dw - 1}) / {dw}, 0, {spec.kw});",
            f"  let kx1 = max(clamp((({spec.w} - left) + {dw - 1}) / {dw}, 0, {spec.kw}), kx0);",
            "  var acc = 0.0;",
            "  for (var ky = ky0; ky < ky1; ky++) {",
            f"    let xrow = plane * {spec.h * spec.w} + (top + ky * {dh}) * {spec.w} + left;",
            f"    let wrow = ch * {spec.kh * spec.kw} + ky * {spec.kw};",
            "    for (var kx = kx0; kx < kx1; kx++) {",
            f"      acc += ld1(wrow + kx) * ld0(xrow + kx * {dw});",
            "    }", "  }"]
    value = "acc"
    if spec.epilogue is not None:
        body.append(f"  let px = oy * {spec.ow} + ox;")
        value = wgsl_expr(spec.epilogue, lambda leaf: _depthwise_leaf(spec, leaf))
        if spec.epilogue.dtype != spec.args[out].dtype:
            value = f"{wgsl_type(spec.args[out].dtype)}({value})"
    body.append(f"  st{out}(o, {value});")
    return _kernel(spec, "depthwise", total, body, config, limits, expr_functions(spec.epilogue))


def _depthwise_leaf(spec: Depthwise, leaf) -> str:
    if leaf.op == "acc":
        return "acc"
    if leaf.op == "in" and 0 <= leaf.index < len(spec.extras):
        access = spec.extras[leaf.index]
        terms = [str(access.offset)] + [f"{name} * {stride}" for name, stride in zip(("img", "ch", "px"), access.strides)
                                        if stride]
        return f"ld{access.arg}({' + '.join(terms)})"
    raise CompileError(f"Depthwise epilogue leaf {leaf} is not an input or the accumulator.")


def _inside(spec, iy: str, ix: str) -> str:
    """The test that (iy, ix) lies in the image, only on the sides a window can cross."""
    pad_top, pad_left = spec.pads[0], spec.pads[1]
    last_y = (spec.oh - 1) * spec.strides[0] + (spec.kh - 1) * spec.dilations[0] - pad_top
    last_x = (spec.ow - 1) * spec.strides[1] + (spec.kw - 1) * spec.dilations[1] - pad_left
    tests = []
    if pad_top > 0:
        tests.append(f"{iy} >= 0")
    if last_y >= spec.h:
        tests.append(f"{iy} < {spec.h}")
    if pad_left > 0:
        tests.append(f"{ix} >= 0")
    if last_x >= spec.w:
        tests.append(f"{ix} < {spec.w}")
    return " && ".join(tests)


def _kernel(spec, family: str, total: int, body: list[str], config: FlatConfig, limits: Limits,
            helpers: str = "") -> WgslKernel:
    """One invocation per output element `o` in [0, total), with `body` computing it."""
    declarations, bindings = declare_args(spec, limits)
    check_fits(spec, bindings, limits, family)
    size = config.workgroup
    groups = -(-total // size)
    grid = dispatch_grid(groups, limits)
    head = linear_workgroup(groups, grid) + f"  let o = wg * {size} + i32(lid);\n"
    if groups * size != total:
        head += f"  if (o >= {i32_literal(total)}) {{ return; }}\n"
    source = (f"// webjit {spec_text(spec)}\n{declarations}{helpers}\n"
              + entry_point(size, head + "\n".join(body) + "\n"))
    return WgslKernel(source, "main", (size, 1, 1), grid, bindings)


IM2COL, POOL = flat_family("im2col", emit_im2col), flat_family("pool", emit_pool)
DEPTHWISE = flat_family("depthwise", emit_depthwise)
