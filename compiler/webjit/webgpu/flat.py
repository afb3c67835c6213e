"""The schedule of WGSL kernels with one invocation per item (gather, cumsum, im2col, pool, depthwise):
the workgroup width is all there is to choose."""
from __future__ import annotations

from dataclasses import dataclass

from ..family import Constraint, Family
from ..symbolic import upper
from .wgsl import workgroup_size


@dataclass(frozen=True)
class FlatConfig:
    workgroup: int = 256  # invocations per workgroup, a power of two


SPACE = (FlatConfig(64), FlatConfig(128), FlatConfig(256))


def items(spec) -> int:
    """Invocations the kernel of `spec` needs (one per output element, cumsum one per column)."""
    if spec.family == "cumsum":
        return spec.outer * spec.inner if spec.r else 0
    if getattr(spec, "dims", ()):  # the output is the last arg before the sizes
        return upper(spec.outer * spec.count * spec.inner)
    return spec.args[-1].size if spec.args else 0


def fits_device(config: FlatConfig, limits) -> bool:
    return (config.workgroup & (config.workgroup - 1) == 0 and 1 <= config.workgroup <= limits.max_invocations
            and config.workgroup <= limits.max_workgroup_size[0])


def resolve(config: FlatConfig, spec, target) -> FlatConfig:
    """The width the device allows, and no wider than the work (rounded to a power of two)."""
    width = workgroup_size(target.limits, config.workgroup)
    while width > 1 and width // 2 >= max(items(spec), 1):
        width //= 2
    return FlatConfig(width)


CONSTRAINTS = (
    Constraint("workgroup a power of two within the invocation and x-size limits",
               lambda c, s, t: fits_device(c, t.limits), hard=True),
)


def cost(config: FlatConfig, spec, target) -> float:
    """Invocations, plus a fixed cost per workgroup, over the share of the device kept busy."""
    work = max(items(spec), 1)
    groups = -(-work // config.workgroup)
    return (work + 64 * groups) / min(1.0, groups * config.workgroup / 4096)


def flat_family(name: str, emit) -> Family:
    """The record of a family whose generator is emit(spec, FlatConfig, limits)."""
    return Family(name, "webgpu", FlatConfig, SPACE, CONSTRAINTS, lambda spec, target: FlatConfig(256),
                  resolve, lambda spec, config, target: emit(spec, config, target.limits), cost)
