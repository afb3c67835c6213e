"""WGSL code generators for Im2Col (convolution as a matmul) and Pool (max / average).

One invocation per output element, workgroups linearised through dispatch_grid; the
workgroup width is the config (webgpu.flat).
Bounds tests are written only for the sides where a window can leave the image.
"""
from __future__ import annotations

from ..kernels import Im2Col, Pool, spec_text
from .expr import helper_functions
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
