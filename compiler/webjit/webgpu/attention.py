"""WGSL for fused attention (kernels.Attention): one workgroup per query row.

The row's q goes to workgroup memory; each invocation scores keys lid, lid + W, ... (a dot
product over d, scaled and masked) into a workgroup row of sk scores, folding its own max;
a tree gives the row max, each invocation turns its scores into exp(s - max) and sums them,
a second tree gives the sum; then each invocation computes output columns lid, lid + W, ...
as sum_j e_j v[j, c] * (1 / sum). As the softmax kernel does, a row whose max is not finite
(every score -inf, or an inf or NaN) is NaN, which is what onnxruntime's Softmax gives.
"""
from __future__ import annotations

from dataclasses import dataclass

from webjit.family import Constraint, Family
from webjit.kernels import Attention, prod
from webjit.symbolic import Sym, SymbolicError, upper
from webjit.webgpu.expr import helper_functions
from webjit.webgpu.flat import fits_device
from webjit.webgpu.kernel import Limits, WgslKernel, dispatch_grid, symbolic_dispatch
from webjit.webgpu.reductions import tree_function
from webjit.webgpu.sizes import WgslSizes
from webjit.webgpu.wgsl import (check_fits, declare_args, entry_point, f32_literal, linear_workgroup,
                                symbolic_workgroup, workgroup_size)


@dataclass(frozen=True)
class AttentionConfig:
    workgroup: int = 64  # invocations per query row, a power of two


SPACE = (AttentionConfig(32), AttentionConfig(64), AttentionConfig(128), AttentionConfig(256))


def storage_bytes(config: AttentionConfig, spec: Attention) -> int:
    return 4 * (upper(spec.sk) + spec.d + config.workgroup)  # scores for the most keys


def resolve(config: AttentionConfig, spec: Attention, target) -> AttentionConfig:
    """A power of two the limits allow, no wider than the row's keys or output columns need."""
    width = workgroup_size(target.limits, config.workgroup)
    while width > 1 and width // 2 >= max(upper(spec.sk), spec.dv):
        width //= 2
    return AttentionConfig(width)


CONSTRAINTS = (
    Constraint("workgroup a power of two within the invocation and x-size limits",
               lambda c, s, t: fits_device(c, t.limits), hard=True),
    Constraint("the row of scores, q and the tree within maxComputeWorkgroupStorageSize",
               lambda c, s, t: storage_bytes(c, s) <= t.limits.max_workgroup_storage, hard=True),
)


def cost(config: AttentionConfig, spec: Attention, target) -> float:
    """Per row: the scores over W invocations, the output columns over min(W, dv) of them, and
    the trees; over the share of the device kept busy."""
    width = config.workgroup
    sk = upper(spec.sk)
    steps = -(-sk // width) * (spec.d + 8) + -(-spec.dv // width) * sk + 8 * width.bit_length()
    rows = max(upper(prod(spec.batch) * spec.sq), 1)
    return rows * steps / min(1.0, rows * width / 4096)


def _check_symbolic(spec: Attention) -> None:
    """Symbolic sizes may set the query rows, the keys, and the strides between query rows
    or batch entries; the depths and the strides along the keys stay fixed."""
    fixed = [spec.d, spec.dv, spec.k.strides[-2], spec.v.strides[-2]]
    fixed += [a.strides[-1] for a in (spec.q, spec.k, spec.v, spec.select, spec.add, spec.out) if a is not None]
    if any(isinstance(v, Sym) for v in fixed):
        raise SymbolicError("an attention kernel whose depth or key strides are symbolic is not compiled for "
                            "WebGPU yet")


def emit_attention(spec: Attention, config: AttentionConfig, limits: Limits) -> WgslKernel:
    declarations, bindings = declare_args(spec, limits)
    check_fits(spec, bindings, limits, "attention")
    _check_symbolic(spec)
    sizes = WgslSizes(spec)
    text = sizes.text
    width = config.workgroup
    rows = prod(spec.batch) * spec.sq
    if sizes.symbolic:
        grid = symbolic_dispatch(rows, 1, 1, limits)
        head = symbolic_workgroup(sizes.uniform_groups(rows, 1))
    else:
        grid = dispatch_grid(rows, limits)
        head = linear_workgroup(rows, grid)
    named = {name: a for name, a in (("q", spec.q), ("k", spec.k), ("v", spec.v), ("sel", spec.select),
                                     ("msk", spec.add), ("out", spec.out)) if a is not None}
    extents = list(spec.batch) + [spec.sq]
    lines = [head, "  var rest = wg;\n"]
    bases = {name: [text(a.offset)] for name, a in named.items()}
    for dim in reversed(range(len(extents))):
        lines.append(f"  let i{dim} = rest % {text(extents[dim])};\n  rest = rest / {text(extents[dim])};\n")
        for name, a in named.items():
            if (isinstance(a.strides[dim], Sym) or a.strides[dim]) and not (dim == len(extents) - 1
                                                                            and name in ("k", "v")):
                bases[name].append(f"i{dim} * {text(a.strides[dim])}")
    for name, terms in bases.items():
        lines.append(f"  let {name}b = {' + '.join(terms)};\n")
    ld = {name: f"ld{a.arg}" for name, a in named.items()}
    scale = f"{'/' if spec.divide else '*'} {f32_literal(spec.scale)}"
    score = [f"    var s = dot {scale};\n"]
    if spec.select is not None:
        score.append(f"    if ({ld['sel']}(selb + j * {spec.select.strides[-1]}) == 0) "
                     f"{{ s = {f32_literal(spec.fill)}; }}\n")
    if spec.add is not None:
        score.append(f"    s = s + {ld['msk']}(mskb + j * {spec.add.strides[-1]});\n")
    nan = "wj_f32_bits(0x7fc00000u)"
    body = (
        "".join(lines)
        + f"  for (var t = i32(lid); t < {spec.d}; t += {width}) {{ qrow[t] = {ld['q']}(qb + t); }}\n"
        + "  workgroupBarrier();\n"
        + f"  var peak = {f32_literal(float('-inf'))};\n"
        + f"  for (var j = i32(lid); j < {text(spec.sk)}; j += {width}) {{\n"
        + f"    let kj = kb + j * {spec.k.strides[-2]};\n"
        + "    var dot = 0.0f;\n"
        + f"    for (var t = 0; t < {spec.d}; t++) {{ dot = dot + qrow[t] * {ld['k']}(kj + t); }}\n"
        + "".join(score)
        + "    scores[j] = s;\n    peak = wj_max_f(peak, s);\n  }\n"
        + "  let shift = row_max(peak, lid);\n"
        + "  let poisoned = (bitcast<u32>(shift) & 0x7f800000u) == 0x7f800000u;\n"
        + "  var acc = 0.0f;\n"
        + f"  for (var j = i32(lid); j < {text(spec.sk)}; j += {width}) {{\n"
        + "    let e = exp(scores[j] - shift);\n    scores[j] = e;\n    acc = acc + e;\n  }\n"
        + "  let inv = 1.0f / row_sum(acc, lid);  // its barriers also publish every e\n"
        + f"  for (var c = i32(lid); c < {spec.dv}; c += {width}) {{\n"
        + "    var o = 0.0f;\n"
        + f"    for (var j = 0; j < {text(spec.sk)}; j++) {{ o = o + scores[j] * {ld['v']}(vb + j * {spec.v.strides[-2]} + c); }}\n"
        + f"    st{spec.out.arg}(outb + c, select(o * inv, {nan}, poisoned));\n  }}\n")
    functions = (helper_functions(["bits", "max_f"]) + tree_function("row_max", "f32", width, "max")
                 + tree_function("row_sum", "f32", width, "add"))
    source = (declarations + sizes.declarations() + f"var<workgroup> red: array<f32, {width}>;\n"
              + f"var<workgroup> scores: array<f32, {upper(spec.sk)}>;\n"
              + f"var<workgroup> qrow: array<f32, {spec.d}>;\n" + functions
              + entry_point(width, sizes.prologue() + body))
    return WgslKernel(source, "main", (width, 1, 1), grid, bindings)


FAMILY = Family("attention", "webgpu", AttentionConfig, SPACE, CONSTRAINTS,
                lambda spec, target: AttentionConfig(64), resolve,
                lambda spec, config, target: emit_attention(spec, config, target.limits), cost)
