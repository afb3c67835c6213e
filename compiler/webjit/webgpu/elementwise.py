"""WGSL for Elementwise kernels: out[idx] = expr(inputs at idx).

One invocation per output element (or `items` elements, a workgroup's width apart so
neighbouring invocations touch neighbouring elements). The flat index is split into the
collapsed dimensions by constant divisions, and each access's element is its offset plus
index times stride, so broadcast (stride 0), reversed (negative) and strided outputs
(Concat writing into part of a bigger tensor) all read the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from webjit.kernels import Elementwise, Expr
from webjit.wasm.elementwise import check, collapse, used_inputs
from webjit.webgpu.expr import expr_functions, wgsl_expr
from webjit.webgpu.kernel import DEFAULT_LIMITS, Limits, WgslKernel, dispatch_grid
from webjit.webgpu.wgsl import (check_fits, declare_args, entry_point, linear_workgroup,
                                workgroup_size)


@dataclass(frozen=True)
class ElementwiseConfig:
    workgroup: int = 256  # invocations per workgroup (capped by the device limits)
    items: int = 1  # elements per invocation


def emit(spec: Elementwise, config: ElementwiseConfig | None = None,
         limits: Limits = DEFAULT_LIMITS) -> WgslKernel:
    """The WGSL kernel computing `spec`, one invocation per `config.items` output elements."""
    check(spec)
    config = config or ElementwiseConfig()
    declarations, bindings = declare_args(spec, limits)
    check_fits(spec, bindings, limits, "elementwise")
    total = prod(spec.shape)
    width = workgroup_size(limits, config.workgroup)
    per_group = width * config.items
    groups = -(-total // per_group)
    grid = dispatch_grid(groups, limits)
    source = (declarations + expr_functions(spec.expr) + element_function(spec)
              + entry_point(width, main_body(total, groups, grid, width, config.items)))
    return WgslKernel(source, "main", (width, 1, 1), grid, bindings)


def main_body(total: int, groups: int, grid, width: int, items: int) -> str:
    text = linear_workgroup(groups, grid)
    if items == 1:
        return text + f"  let e = wg * {width} + i32(lid);\n  if (e < {total}) {{ element(e); }}\n"
    return text + (f"  for (var j = 0; j < {items}; j++) {{\n"
                   f"    let e = (wg * {items} + j) * {width} + i32(lid);\n"
                   f"    if (e < {total}) {{ element(e); }}\n  }}\n")


def element_function(spec: Elementwise) -> str:
    """fn element(e): split e into indices, load the inputs, store the expression."""
    lines = ["fn element(e: i32) {"]
    if prod(spec.shape) == 0:
        return "fn element(e: i32) {\n}\n"
    accesses = [spec.out, *spec.inputs]
    loops = collapse(spec.shape, accesses)
    index = split_index(loops.shape, lines)
    for i in sorted(used_inputs(spec.expr)):
        access = spec.inputs[i]
        element = address(access.offset, index, loops.strides[i + 1])
        lines.append(f"  let v{i} = ld{access.arg}({element});")
    value = wgsl_expr(spec.expr, leaf_value)
    lines.append(f"  st{spec.out.arg}({address(spec.out.offset, index, loops.strides[0])}, {value});")
    return "\n".join(lines) + "\n}\n"


def leaf_value(leaf: Expr) -> str:
    return f"v{leaf.index}"


def split_index(shape: tuple[int, ...], lines: list[str]) -> list[str]:
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


def address(offset: int, index: list[str], strides: tuple[int, ...]) -> str:
    """offset + sum(index[d] * strides[d]) as WGSL i32 text, skipping zero strides."""
    text = str(offset) if offset else ""
    for name, stride in zip(index, strides):
        if stride == 0:
            continue
        term = name if abs(stride) == 1 else f"{name} * {abs(stride)}"
        if not text:
            text = term if stride > 0 else f"-{term}"
        else:
            text += f" + {term}" if stride > 0 else f" - {term}"
    return text or "0"


def prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out
