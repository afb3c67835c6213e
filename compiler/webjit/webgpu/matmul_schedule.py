"""The WebGPU MatMul schedule space: workgroup shape, per-invocation tile, K-slab and
vector width, pruned by the device limits, a register budget and the spec's own shape
(a workgroup tile much bigger than the matrix only idles: m = 1 keeps the one-row,
matrix-vector forms), with a cost estimate to rank what survives. matmul.py generates
the kernel for one config.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..family import Constraint
from ..kernels import MatMul, prod
from ..symbolic import Sym, SymbolicError, upper
from ..targets import WebgpuTarget


@dataclass(frozen=True)
class MatMulConfig:
    wg_x: int = 16  # invocations along n
    wg_y: int = 16  # invocations along m
    tm: int = 4  # output rows per invocation
    tn: int = 4  # output columns per invocation
    tk: int = 16  # K-slab staged in workgroup memory per iteration
    vec: int = 4  # vector width of bmat loads and accumulators (1 or 4)
    implicit: bool = False  # a convolution: stage bmat from the image itself (no Im2Col step)


DEFAULT = MatMulConfig()

C = MatMulConfig
SPACE: tuple[MatMulConfig, ...] = (
    # 256 invocations
    C(16, 16, 4, 4, 16, 4), C(16, 16, 4, 4, 8, 4), C(16, 16, 4, 4, 32, 4), C(16, 16, 2, 4, 16, 4),
    C(16, 16, 1, 4, 16, 4), C(16, 16, 8, 4, 16, 4), C(16, 16, 8, 4, 8, 4), C(16, 16, 4, 8, 16, 4),
    C(16, 16, 4, 8, 8, 4), C(16, 16, 8, 8, 8, 4), C(16, 16, 4, 4, 16, 1), C(16, 16, 2, 2, 16, 1), C(32, 8, 4, 4, 16, 4),
    C(32, 8, 2, 4, 16, 4), C(8, 32, 4, 4, 16, 4), C(8, 32, 4, 4, 8, 4), C(32, 8, 4, 8, 8, 4),
    C(64, 4, 2, 4, 8, 4),
    # 128 invocations
    C(16, 8, 4, 4, 16, 4), C(16, 8, 4, 4, 8, 4), C(16, 8, 4, 8, 16, 4), C(16, 8, 8, 4, 16, 4),
    C(16, 8, 2, 4, 16, 4), C(8, 16, 4, 4, 16, 4), C(8, 16, 4, 8, 8, 4), C(32, 4, 4, 4, 16, 4),
    C(32, 4, 2, 4, 16, 4), C(16, 8, 4, 4, 16, 1), C(16, 8, 2, 2, 32, 1),
    # 64 invocations
    C(8, 8, 4, 4, 16, 4), C(8, 8, 4, 4, 32, 4), C(8, 8, 4, 8, 16, 4), C(8, 8, 8, 4, 16, 4), C(8, 8, 8, 8, 8, 4),
    C(8, 8, 2, 4, 16, 4), C(8, 8, 4, 4, 16, 1), C(8, 8, 2, 2, 16, 1), C(16, 4, 4, 4, 16, 4),
    C(4, 16, 4, 4, 16, 4),
    # 32 invocations
    C(8, 4, 4, 4, 16, 4), C(8, 4, 2, 4, 16, 4), C(4, 8, 4, 4, 16, 4), C(8, 4, 4, 8, 16, 4),
    # one row of invocations: matrix-vector products (m = 1)
    C(64, 1, 1, 4, 8, 4), C(32, 1, 1, 4, 16, 4), C(64, 2, 1, 4, 8, 4), C(32, 2, 2, 4, 16, 4),
    C(64, 1, 1, 4, 32, 4), C(128, 1, 1, 4, 16, 4), C(16, 1, 1, 4, 64, 4),
    # few columns (n <= 4): a column of invocations
    C(1, 64, 1, 4, 16, 4), C(4, 32, 2, 4, 16, 4), C(1, 64, 1, 1, 16, 1),
    # convolutions: implicit GEMM, the K-slab of columns staged straight from the image
    C(16, 16, 4, 4, 16, 4, True), C(16, 16, 2, 4, 16, 4, True), C(16, 8, 4, 4, 16, 4, True),
    C(8, 8, 4, 4, 16, 4, True), C(16, 16, 4, 4, 8, 4, True), C(16, 16, 2, 2, 16, 1, True),
    C(16, 4, 2, 4, 16, 4, True),
)
del C


def workgroup_storage(config: MatMulConfig) -> int:
    """Bytes of workgroup memory: a tk-deep slab of the tile's rows of a and columns of bmat."""
    return config.tk * (config.wg_y * config.tm + config.wg_x * config.tn) * 4


def registers(config: MatMulConfig) -> int:
    """f32 registers per invocation: a column of a, a row of bmat and the accumulators."""
    return config.tm + config.tn + config.tm * config.tn


def tile_rows(config: MatMulConfig) -> int:
    return config.wg_y * config.tm


def tile_cols(config: MatMulConfig) -> int:
    return config.wg_x * config.tn


CONSTRAINTS = (
    Constraint("every size >= 1, vec 1 or 4 and dividing tn",
               lambda c, s, t: min(c.wg_x, c.wg_y, c.tm, c.tn, c.tk) >= 1 and c.vec in (1, 4)
               and c.tn % c.vec == 0, hard=True),
    Constraint("invocations within maxComputeInvocationsPerWorkgroup and the x/y sizes",
               lambda c, s, t: c.wg_x * c.wg_y <= t.limits.max_invocations
               and c.wg_x <= t.limits.max_workgroup_size[0] and c.wg_y <= t.limits.max_workgroup_size[1],
               hard=True),
    Constraint("workgroup memory within maxComputeWorkgroupStorageSize",
               lambda c, s, t: workgroup_storage(c) <= t.limits.max_workgroup_storage, hard=True),
    Constraint("implicit GEMM only for a convolution's GEMM", lambda c, s, t: not c.implicit or s.im2col is not None,
               hard=True),
    Constraint("registers: tm + tn + tm*tn within the register budget",
               lambda c, s, t: registers(c) <= t.max_registers),
    Constraint("tile rows under twice m (at most half the tile idle; a symbolic m at its largest)",
               lambda c, s, t: tile_rows(c) < 2 * max(upper(s.m), 1) or tile_rows(c) == 1),
    Constraint("tile columns under twice n rounded up to 4",
               lambda c, s, t: tile_cols(c) < 2 * _round_up(max(s.n, 1), 4) or tile_cols(c) <= 4),
    Constraint("K-slab no deeper than k rounded up to 8", lambda c, s, t: c.tk <= _round_up(max(s.k, 1), 8)),
)


def check_symbolic(spec: MatMul) -> None:
    """A symbolic m only: n, k, the batch and every offset and stride the kernel uses fixed
    (strides of batch dims of size 1 are never used)."""
    if not spec.dims:
        return
    used = [d for d, size in enumerate(spec.batch) if not (isinstance(size, int) and size == 1)]
    accesses = (spec.a, spec.bmat, spec.out) + spec.extras
    fixed = [spec.n, spec.k, *spec.batch] + [access.offset for access in accesses]
    for access in accesses:
        fixed += [access.strides[d] for d in used] + list(access.strides[-2:])
    if any(isinstance(v, Sym) for v in fixed) or spec.im2col is not None:
        raise SymbolicError("a MatMul with a symbolic size other than its rows (m) is not compiled for WebGPU yet")


def default(spec: MatMul, target: WebgpuTarget) -> MatMulConfig | None:
    """DEFAULT where it fits, else the fitting config of the lowest estimated cost."""
    from .matmul import FAMILY  # the record that holds the constraints
    check_symbolic(spec)  # before any constraint asks a question of a symbolic n or k
    if FAMILY.fits(DEFAULT, spec, target):
        return DEFAULT
    fitting = [c for c in SPACE if FAMILY.fits(c, spec, target)]
    return min(fitting, key=lambda c: cost(c, spec, target)) if fitting else None


def cost(config: MatMulConfig, spec: MatMul, target: WebgpuTarget) -> float:
    """Estimated time units: the padded multiply-adds of every workgroup, plus what each
    staged K-slab reads from global memory, over the invocations that run at once."""
    bm, bn = tile_rows(config), tile_cols(config)
    groups = max(prod(spec.batch), 1) * -(-max(upper(spec.m), 1) // bm) * -(-max(spec.n, 1) // bn)
    k = _round_up(max(spec.k, 1), config.tk)
    madds = groups * bm * bn * k
    loads = groups * (bm + bn) * k * (1.0 if config.vec == 4 else 2.0)
    invocations = config.wg_x * config.wg_y
    busy = min(1.0, groups * invocations / 4096)  # a device runs thousands of invocations at once
    return (madds / 4 + 4 * loads) / busy


def _round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to
