"""WGSL for row kernels over contiguous [outer, r]: Reduce, Softmax, LayerNorm.

One workgroup per row. Each invocation folds the row elements lid, lid + W, lid + 2W, ...
into its own accumulator; a tree over workgroup memory then combines the W partial
results. Softmax subtracts the row max before exp; LayerNorm computes the variance from
the centred values in a second pass (E[x^2] - E[x]^2 loses everything for large means).
Results match webjit.wasm.reductions.
"""
from __future__ import annotations

from dataclasses import dataclass

from webjit.family import Constraint, Family
from webjit.kernels import LayerNorm, Reduce, Softmax
from webjit.webgpu.expr import helper_functions
from webjit.webgpu.flat import fits_device
from webjit.symbolic import Sym, SymbolicError, upper
from webjit.webgpu.kernel import Limits, WgslKernel, dispatch_grid, symbolic_dispatch
from webjit.webgpu.sizes import WgslSizes
from webjit.webgpu.wgsl import (I32_MAX, I32_MIN, check_fits, declare_args, entry_point,
                                f32_literal, i32_literal, linear_workgroup, symbolic_workgroup,
                                workgroup_size)

INF = float("inf")
# kind -> (combine, identity, what each element contributes, final step)
REDUCE_KINDS = {
    "sum": ("add", 0.0, "v", None),
    "mean": ("add", 0.0, "v", "mean"),
    "max": ("max", -INF, "v", None),
    "min": ("min", INF, "v", None),
    "prod": ("mul", 1.0, "v", None),
    "sumsq": ("add", 0.0, "v * v", None),
    "l1": ("add", 0.0, "abs(v)", None),
    "l2": ("add", 0.0, "v * v", "sqrt"),
}
# combine -> WGSL of (a, b) per dtype; f32 min/max propagate NaN like the WASM kernels
COMBINE = {"f32": {"add": "{a} + {b}", "mul": "{a} * {b}", "max": "wj_max_f({a}, {b})",
                   "min": "wj_min_f({a}, {b})"},
           "i32": {"add": "{a} + {b}", "mul": "{a} * {b}", "max": "max({a}, {b})",
                   "min": "min({a}, {b})"}}


@dataclass(frozen=True)
class RowConfig:
    workgroup: int = 256  # invocations per row, a power of two


SPACE = (RowConfig(32), RowConfig(64), RowConfig(128), RowConfig(256))


def check_rows(spec) -> None:
    """Symbolic sizes may set the count of rows, not their length."""
    if isinstance(spec.r, Sym):
        raise SymbolicError(f"a {spec.family} over rows of symbolic length ({spec.r}) is not compiled for WebGPU yet")


def resolve(config: RowConfig, spec, target) -> RowConfig:
    """Invocations per row: a power of two, no more than the row needs or the limits allow."""
    check_rows(spec)
    limits = target.limits
    cap = min(workgroup_size(limits, config.workgroup),
              workgroup_size(limits, max(limits.max_workgroup_storage // 4, 1)))
    width = 1
    while width < cap and width < spec.r:
        width *= 2
    return RowConfig(width)


CONSTRAINTS = (
    Constraint("workgroup a power of two within the invocation and x-size limits",
               lambda c, s, t: fits_device(c, t.limits), hard=True),
    Constraint("one f32 of workgroup memory per invocation within maxComputeWorkgroupStorageSize",
               lambda c, s, t: 4 * c.workgroup <= t.limits.max_workgroup_storage, hard=True),
)


def cost(config: RowConfig, spec, target) -> float:
    """Per row: the strided passes (r / width steps) and the log2(width) steps of the tree,
    over the share of the device kept busy."""
    width = config.workgroup
    steps = -(-max(spec.r, 1) // width) * 3 + 4 * width.bit_length()
    rows = max(upper(spec.outer), 1)
    return rows * steps / min(1.0, rows * width / 4096)


def tree_function(name: str, dtype: str, width: int, combine: str) -> str:
    """fn {name}(v, lid): the combination of every invocation's v, returned to all of them.

    Must be called in uniform control flow (it holds barriers)."""
    op = COMBINE[dtype][combine].format(a="red[lid]", b="red[lid + s]")
    return (f"fn {name}(v: {dtype}, lid: u32) -> {dtype} {{\n"
            f"  red[lid] = v;\n  workgroupBarrier();\n"
            f"  for (var s = {width // 2}u; s > 0u; s = s >> 1u) {{\n"
            f"    if (lid < s) {{ red[lid] = {op}; }}\n    workgroupBarrier();\n  }}\n"
            f"  let total = red[0];\n  workgroupBarrier();  // red is free for the next tree\n"
            f"  return total;\n}}\n")


def row_loop(width: int, r: int, body: str) -> str:
    """Run `body` (statements using j, the element's column) for this invocation's columns."""
    return (f"  for (var j = i32(lid); j < {r}; j += {width}) {{\n"
            f"{body}  }}\n")


def row_kernel(spec, family: str, dtype: str, width: int, functions: str, body: str,
               limits: Limits) -> WgslKernel:
    """One workgroup per row: `body` runs with `row` (the row index) and `base` = row * r."""
    declarations, bindings = declare_args(spec, limits)
    check_fits(spec, bindings, limits, family)
    check_rows(spec)
    sizes = WgslSizes(spec)
    if sizes.symbolic:
        grid = symbolic_dispatch(spec.outer, 1, 1, limits)
        head = sizes.prologue() + symbolic_workgroup(sizes.uniform_groups(spec.outer, 1))
    else:
        grid = dispatch_grid(spec.outer, limits)
        head = linear_workgroup(spec.outer, grid)
    main = head + f"  let row = wg;\n  let base = row * {spec.r};\n" + body
    source = (declarations + f"var<workgroup> red: array<{dtype}, {width}>;\n" + functions
              + entry_point(width, main))
    return WgslKernel(source, "main", (width, 1, 1), grid, bindings)


def literal(value: float, dtype: str) -> str:
    if dtype == "i32":
        return i32_literal(I32_MAX if value == INF else I32_MIN if value == -INF else value)
    return f32_literal(value)


def accumulate(width: int, r: int, dtype: str, combine: str, identity: float, value: str,
               acc: str = "acc") -> str:
    """Statements folding `value` (WGSL text of v = x[row, j]) over this invocation's columns into `acc`."""
    step = COMBINE[dtype][combine].format(a=acc, b=value)
    return (f"  var {acc} = {literal(identity, dtype)};\n"
            + row_loop(width, r, f"    let v = ld0(base + j);\n    {acc} = {step};\n"))


def emit_reduce(spec: Reduce, config: RowConfig, limits: Limits) -> WgslKernel:
    """out[o] = kind over r of x[o, r] for contiguous x [outer, r]; args x, out."""
    dtype = spec.args[0].dtype
    width = config.workgroup
    if spec.kind == "logsumexp":
        functions = (helper_functions(["bits", "max_f", "log"]) + tree_function("row_max", dtype, width, "max")
                     + tree_function("row_sum", dtype, width, "add"))
        body = (accumulate(width, spec.r, dtype, "max", -INF, "v", "peak")
                + "  let shift = finite_or_zero(row_max(peak, lid));\n"
                + accumulate(width, spec.r, dtype, "add", 0.0, "exp(v - shift)")
                + "  let total = wj_log(row_sum(acc, lid)) + shift;\n")
        functions += FINITE_OR_ZERO
    else:
        combine, identity, element, final = REDUCE_KINDS[spec.kind]
        functions = helper_functions(["bits", "max_f", "min_f"] if dtype == "f32" else [])
        functions += tree_function("row_total", dtype, width, combine)
        body = (accumulate(width, spec.r, dtype, combine, identity, element)
                + "  var total = row_total(acc, lid);\n")
        if final == "mean":
            body += f"  total = total * {f32_literal(1.0 / spec.r if spec.r else float('nan'))};\n"
        elif final == "sqrt":
            body += "  total = sqrt(total);\n"
    body += "  if (lid == 0u) { st1(row, total); }\n"
    return row_kernel(spec, "reduce", dtype, width, functions, body, limits)


FINITE_OR_ZERO = """fn finite_or_zero(x: f32) -> f32 {
  // An infinite or NaN row max would turn x - max into NaN; shift by 0 instead.
  return select(0.0f, x, (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u);
}
"""


def emit_softmax(spec: Softmax, config: RowConfig, limits: Limits) -> WgslKernel:
    """Softmax (or log-softmax) over rows of contiguous [outer, r]; args x, out."""
    width = config.workgroup
    x = "ld0(base + j)"
    functions = (helper_functions(["bits", "max_f", "log"])
                 + tree_function("row_max", "f32", width, "max")
                 + tree_function("row_sum", "f32", width, "add"))
    # The row max itself, as onnxruntime shifts: a row holding +inf or NaN becomes all NaN.
    # WGSL need not keep inf - inf a NaN, so such a row is made NaN by its max's bits.
    body = (accumulate(width, spec.r, "f32", "max", -INF, "v", "peak")
            + "  let shift = row_max(peak, lid);\n"
            + "  let poisoned = (bitcast<u32>(shift) & 0x7f800000u) == 0x7f800000u;\n")
    nan = "wj_f32_bits(0x7fc00000u)"
    if spec.log:
        body += (accumulate(width, spec.r, "f32", "add", 0.0, "exp(v - shift)")
                 + "  let offset = shift + wj_log(row_sum(acc, lid));\n"
                 + row_loop(width, spec.r, f"    st1(base + j, select({x} - offset, {nan}, poisoned));\n"))
    else:
        # Each invocation rescales exactly the elements it wrote: no barrier needed between.
        body += ("  var acc = 0.0f;\n"
                 + row_loop(width, spec.r, f"    let e = exp({x} - shift);\n"
                                           "    st1(base + j, e);\n    acc = acc + e;\n")
                 + "  let scale = 1.0f / row_sum(acc, lid);\n"
                 + row_loop(width, spec.r, f"    st1(base + j, select(ld1(base + j) * scale, {nan}, poisoned));\n"))
    return row_kernel(spec, "softmax", "f32", width, functions, body, limits)


def emit_layernorm(spec: LayerNorm, config: RowConfig, limits: Limits) -> WgslKernel:
    """y = (x - mean) / sqrt(var + eps) [* scale] [+ bias] over rows; args x, [scale], [bias], out."""
    expected = 2 + spec.params
    width = config.workgroup
    inv_r = f32_literal(1.0 / spec.r)
    x, out = "ld0(base + j)", expected - 1
    scale = " * ld1(j)" if spec.has_scale else ""
    bias = f" + ld{1 + spec.has_scale}(j)" if spec.has_bias else ""
    functions = tree_function("row_sum", "f32", width, "add")
    body = (accumulate(width, spec.r, "f32", "add", 0.0, "v", "total")
            + f"  let mean = row_sum(total, lid) * {inv_r};\n"
            + accumulate(width, spec.r, "f32", "add", 0.0, "(v - mean) * (v - mean)", "squares")
            + f"  let inv = 1.0f / sqrt(row_sum(squares, lid) * {inv_r} + {f32_literal(spec.epsilon)});\n"
            + row_loop(width, spec.r, f"    st{out}(base + j, ({x} - mean) * inv{scale}{bias});\n"))
    return row_kernel(spec, "layernorm", "f32", width, functions, body, limits)


def _family(name: str, emit) -> Family:
    return Family(name, "webgpu", RowConfig, SPACE, CONSTRAINTS, lambda spec, target: RowConfig(256), resolve,
                  lambda spec, config, target: emit(spec, config, target.limits), cost)


REDUCE, SOFTMAX, LAYERNORM = (_family("reduce", emit_reduce), _family("softmax", emit_softmax),
                              _family("layernorm", emit_layernorm))
