"""WGSL for Gather and CumSum.

Gather runs one invocation per output element; CumSum one invocation per (outer, inner)
column, walking down r with a running sum (exclusive and reverse as flagged). Results
match webjit.wasm.gather: negative indices wrap once, indices still out of range read 0.
"""
from __future__ import annotations

from webjit.kernels import CumSum, Gather
from webjit.webgpu.flat import FlatConfig, flat_family
from webjit.webgpu.kernel import Limits, WgslKernel, dispatch_grid, symbolic_dispatch
from webjit.webgpu.sizes import WgslSizes
from webjit.webgpu.wgsl import check_fits, declare_args, entry_point, linear_workgroup, symbolic_workgroup


def flat_kernel(spec, family: str, total, item: str, config: FlatConfig, limits: Limits,
                sizes: WgslSizes | None = None) -> WgslKernel:
    """A kernel calling `fn item(e: i32)` (WGSL source `item`) for e in [0, total); a
    symbolic total reads `sizes`, which `item` may use too."""
    declarations, bindings = declare_args(spec, limits)
    check_fits(spec, bindings, limits, family)
    width = config.workgroup
    if sizes is not None and sizes.symbolic:
        grid = symbolic_dispatch(total, width, 1, limits)
        head = symbolic_workgroup(sizes.uniform_groups(total, width))
    else:
        groups = -(-total // width)
        grid = dispatch_grid(groups, limits)
        head = linear_workgroup(groups, grid)
        sizes = WgslSizes(spec)
    body = head + f"  let e = wg * {width} + i32(lid);\n  if (e < {sizes.text(total)}) {{ item(e); }}\n"
    source = declarations + sizes.declarations() + item + entry_point(width, sizes.prologue() + body)
    return WgslKernel(source, "main", (width, 1, 1), grid, bindings)


def emit_gather(spec: Gather, config: FlatConfig, limits: Limits) -> WgslKernel:
    """out[o, i, j] = data[o, idx[i], j]; negative indices wrap once, others out of range give 0."""
    t = spec.args[0].dtype
    sizes = WgslSizes(spec)
    total = spec.outer * spec.count * spec.inner
    inner, count, axis_dim = (sizes.text(v) for v in (spec.inner, spec.count, spec.axis_dim))
    item = (f"fn item(e: i32) {{\n"
            f"  let j = e % {inner};\n  let pair = e / {inner};\n"
            f"  let i = pair % {count};\n  let o = pair / {count};\n"
            f"  var index = ld1(i);\n"
            f"  if (index < 0i) {{ index = index + {axis_dim}; }}\n"
            f"  var value = {t}(0);\n"
            f"  if (index >= 0i && index < {axis_dim}) {{\n"
            f"    value = ld0((o * {axis_dim} + index) * {inner} + j);\n  }}\n"
            f"  st2(e, value);\n}}\n")
    if total == 0:
        item = "fn item(e: i32) {\n}\n"
    return flat_kernel(spec, "gather", total, item, config, limits, sizes)


def emit_cumsum(spec: CumSum, config: FlatConfig, limits: Limits) -> WgslKernel:
    """Cumulative sum along r of contiguous [outer, r, inner] (exclusive / reverse as flagged)."""
    t = spec.args[0].dtype
    columns = spec.outer * spec.inner if spec.r else 0
    step = -spec.inner if spec.reverse else spec.inner
    first = f" + {(spec.r - 1) * spec.inner}" if spec.reverse else ""
    combine = "*" if spec.product else "+"
    if spec.exclusive:
        update = f"    st1(at, acc);\n    acc = acc {combine} ld0(at);\n"
    else:
        update = f"    acc = acc {combine} ld0(at);\n    st1(at, acc);\n"
    item = (f"fn item(e: i32) {{\n"
            f"  let o = e / {spec.inner};\n  let k = e % {spec.inner};\n"
            f"  var at = o * {spec.r * spec.inner} + k{first};\n"
            f"  var acc = {t}({int(spec.product)});\n"
            f"  for (var t = 0; t < {spec.r}; t++) {{\n{update}    at = at + {step};\n  }}\n}}\n")
    if columns == 0:
        item = "fn item(e: i32) {\n}\n"
    return flat_kernel(spec, "cumsum", columns, item, config, limits)


GATHER, CUMSUM = flat_family("gather", emit_gather), flat_family("cumsum", emit_cumsum)
