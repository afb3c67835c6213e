"""WGSL for Elementwise kernels: out[idx] = expr(inputs at idx).

One invocation per output element (or `items` elements, a workgroup's width apart so
neighbouring invocations touch neighbouring elements). The flat index is split into the
collapsed dimensions by constant divisions, and each access's element is its offset plus
index times stride, so broadcast (stride 0), reversed (negative) and strided outputs
(Concat writing into part of a bigger tensor) all read the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from webjit.family import Constraint, Family
from webjit.kernels import Elementwise, Expr, collapse, prod, used_inputs
from webjit.webgpu.expr import expr_functions, wgsl_expr
from webjit.webgpu.flat import fits_device
from webjit.symbolic import Sym, upper
from webjit.webgpu.kernel import Limits, WgslKernel, dispatch_grid, symbolic_dispatch
from webjit.webgpu.sizes import WgslSizes
from webjit.webgpu.wgsl import (check_fits, declare_args, entry_point, linear_workgroup, symbolic_workgroup,
                                workgroup_size)


@dataclass(frozen=True)
class ElementwiseConfig:
    workgroup: int = 256  # invocations per workgroup, a power of two
    items: int = 1  # elements per invocation


SPACE = tuple(ElementwiseConfig(w, i) for w in (64, 128, 256) for i in (1, 2, 4))


def emit(spec: Elementwise, config: ElementwiseConfig, limits: Limits) -> WgslKernel:
    """The WGSL kernel computing `spec`, one invocation per `config.items` output elements."""
    declarations, bindings = declare_args(spec, limits)
    check_fits(spec, bindings, limits, "elementwise")
    sizes = WgslSizes(spec)
    total = prod(spec.shape)
    width = config.workgroup
    per_group = width * config.items
    flag = "" if spec.status is None else f"fn wj_flag() {{ st{spec.status}(0, 1i); }}\n"
    element = element_function(spec, sizes)
    if sizes.symbolic:
        grid = symbolic_dispatch(total, per_group, 1, limits)
        head = symbolic_workgroup(sizes.uniform_groups(total, per_group))
    else:
        groups = -(-total // per_group)
        grid = dispatch_grid(groups, limits)
        head = linear_workgroup(groups, grid)
    body = main_body(sizes.text(total), head, width, config.items)
    source = (declarations + sizes.declarations() + flag + expr_functions(spec.expr) + element
              + entry_point(width, sizes.prologue() + body))
    return WgslKernel(source, "main", (width, 1, 1), grid, bindings)


def main_body(total: str, head: str, width: int, items: int) -> str:
    """`head` (the linear workgroup id and its bounds test), then the invocation's elements."""
    text = head
    if items == 1:
        return text + f"  let e = wg * {width} + i32(lid);\n  if (e < {total}) {{ element(e); }}\n"
    return text + (f"  for (var j = 0; j < {items}; j++) {{\n"
                   f"    let e = (wg * {items} + j) * {width} + i32(lid);\n"
                   f"    if (e < {total}) {{ element(e); }}\n  }}\n")


def element_function(spec: Elementwise, sizes: WgslSizes) -> str:
    """fn element(e): split e into indices, load the inputs, store the expression."""
    lines = ["fn element(e: i32) {"]
    if prod(spec.shape) == 0:
        return "fn element(e: i32) {\n}\n"
    accesses = [spec.out, *spec.inputs]
    loops = collapse(spec.shape, accesses)
    index = split_index(tuple(sizes.text(d) for d in loops.shape), lines)
    for i in sorted(used_inputs(spec.expr)):
        access = spec.inputs[i]
        element = address(access.offset, index, loops.strides[i + 1], sizes)
        lines.append(f"  let v{i} = ld{access.arg}({element});")
    value = wgsl_expr(spec.expr, leaf_value)
    lines.append(f"  st{spec.out.arg}({address(spec.out.offset, index, loops.strides[0], sizes)}, {value});")
    return "\n".join(lines) + "\n}\n"


def leaf_value(leaf: Expr) -> str:
    return f"v{leaf.index}"


def split_index(shape: tuple[str, ...], lines: list[str]) -> list[str]:
    """Names of the per-dimension indices of flat index `e` (row-major), appending their lets."""
    if len(shape) == 1:
        return ["e"]
    names = [f"i{d}" for d in range(len(shape))]
    rest = "e"
    for d in reversed(range(1, len(shape))):
        lines.append(f"  let {names[d]} = {rest} % {shape[d]};")
        lines.append(f"  let r{d} = {rest} / {shape[d]};")
        rest = f"r{d}"
    lines.append(f"  let {names[0]} = {rest};")
    return names


def address(offset, index: list[str], strides: tuple, sizes: WgslSizes) -> str:
    """offset + sum(index[d] * strides[d]) as WGSL i32 text, skipping zero strides (a
    symbolic offset or stride is added as its size's text)."""
    text = sizes.text(offset) if isinstance(offset, Sym) or offset else ""
    for name, stride in zip(index, strides):
        if isinstance(stride, Sym):
            term = f"{name} * {sizes.text(stride)}"
            text = f"{text} + {term}" if text else term
            continue
        if stride == 0:
            continue
        term = name if abs(stride) == 1 else f"{name} * {abs(stride)}"
        if not text:
            text = term if stride > 0 else f"-{term}"
        else:
            text += f" + {term}" if stride > 0 else f" - {term}"
    return text or "0"



def resolve(config: ElementwiseConfig, spec: Elementwise, target) -> ElementwiseConfig:
    """The width the device allows; no more items per invocation than keep one workgroup busy,
    and at least as many as let the workgroups fit one dispatch."""
    width = workgroup_size(target.limits, config.workgroup)
    total = upper(prod(spec.shape))  # symbolic sizes: chosen for the largest
    items = config.items
    while items > 1 and width * items > total:
        items //= 2
    most = target.limits.max_workgroups_per_dim ** 3
    while -(-total // (width * items)) > most:
        items *= 2
    return ElementwiseConfig(width, items)


CONSTRAINTS = (
    Constraint("workgroup a power of two within the invocation and x-size limits",
               lambda c, s, t: fits_device(c, t.limits), hard=True),
    Constraint("items per invocation at least 1", lambda c, s, t: c.items >= 1, hard=True),
)  # resolution halves the items until a workgroup of them has work


def cost(config: ElementwiseConfig, spec: Elementwise, target) -> float:
    """Elements, plus a fixed cost per workgroup, over the share of the device kept busy."""
    total = max(upper(prod(spec.shape)), 1)
    groups = -(-total // (config.workgroup * config.items))
    return (total + 64 * groups) / min(1.0, groups * config.workgroup / 4096)


FAMILY = Family("elementwise", "webgpu", ElementwiseConfig, SPACE, CONSTRAINTS,
                lambda spec, target: ElementwiseConfig(256, 1), resolve,
                lambda spec, config, target: emit(spec, config, target.limits), cost)
