"""The WASM MatMul schedule space: the config a kernel is generated with, the literal list
the tuner measures, and the pruning by a simple model of the CPU (SIMD registers, caches,
pages). matmul.py generates the kernel for one config.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..kernels import MatMul

SIMD_REGISTERS = 15  # x64 has 16 xmm registers and V8 keeps one for scratch
PANEL_BYTES = 1 << 20  # an n-block's panel of bmat (k x nb floats) should stay in L2
AUTO_NB = 96  # nb = 0 picks this when all of bmat is bigger than a panel (a multiple of every nr)
# kc = 0 cuts k so that the kc rows of bmat one column tile reads span at most STRIP_PAGES
# 4 KiB pages (first-level data TLBs hold about 64) and the tile's rows of `a` (mr x kc
# floats) stay well inside L1. Measured on 197x768x3072 (a 3 KiB pitch), 4x8 tile: 9 GFLOP/s
# with one block (2,304 pages per strip), 30 with kc = 512 (384 pages), 33 with kc = 64.
STRIP_PAGES = 48
PAGE_BYTES = 4096
A_ROWS_BYTES = 16 << 10
MIN_UNITS = 8  # with fewer row tiles than this, also split n so threads have work


@dataclass(frozen=True)
class MatMulConfig:
    mr: int = 4  # rows of the register tile
    nr: int = 8  # columns of the register tile, a multiple of 4
    ku: int = 1  # k loop unroll
    nb: int = 0  # columns per n-block (a multiple of nr) for cache reuse; 0: automatic
    kc: int = 0  # k steps per k-block (>= k: one block); 0: automatic
    fma: bool = False  # f32x4.relaxed_madd (relaxed SIMD) instead of mul + add


DEFAULT = MatMulConfig(4, 8, 1, 0)

# Register tiles (mr, nr); fits() drops those that would spill on a given device model.
_TILES = ((1, 8), (1, 16), (1, 24), (2, 8), (2, 12), (2, 16), (3, 8), (3, 12), (4, 4),
          (4, 8), (4, 12), (5, 8), (6, 4), (6, 8), (8, 4), (3, 16))
SPACE: tuple[MatMulConfig, ...] = tuple(
    [MatMulConfig(mr, nr, ku, nb) for mr, nr in _TILES for ku in (1, 2) for nb in (0, 96, 192)]
    + [MatMulConfig(mr, nr, 1, 0, kc) for mr, nr in ((4, 8), (2, 16), (3, 12)) for kc in (32, 128, 512)]
    + [MatMulConfig(mr, nr, 1, nb, fma=True) for mr, nr in ((4, 8), (3, 12), (5, 8), (6, 8))
       for nb in (0, 96, 192)]
    + [MatMulConfig(mr, nr, 1, 0, kc, fma=True) for mr, nr in ((4, 8), (3, 12)) for kc in (32, 128)])


def registers(config: MatMulConfig) -> int:
    """Vector registers a tile needs: accumulators, one row of bmat, one splat of a
    (the tile splats `a` one row at a time, so mr splats are never live together)."""
    return config.mr * config.nr // 4 + config.nr // 4 + 1


def fits(config: MatMulConfig, spec: MatMul) -> bool:
    """Whether `config` is worth measuring on `spec` (pruning, not correctness)."""
    if registers(config) > SIMD_REGISTERS:
        return False
    if config.mr > max(spec.m, 1) or config.nr > _round_up(max(spec.n, 1), 4):
        return False
    if config.ku > max(min(spec.k, config.kc or spec.k), 1):
        return False
    if config.kc and (config.kc >= spec.k or reads_output(spec)):
        return False
    if config.nb:  # blocking n only pays when n is wider than a block and k is deep
        if config.nb >= spec.n or spec.k * spec.n * 4 <= PANEL_BYTES:
            return False
        if k_blocks(spec, config)[0] * config.nb * 4 > PANEL_BYTES:
            return False
    return True


def reads_output(spec: MatMul) -> bool:
    """Whether the epilogue reads `out` itself, which then must not hold partial sums:
    such a spec is never k-blocked."""
    return any(extra.arg == spec.out.arg for extra in spec.extras)


def k_blocks(spec: MatMul, config: MatMulConfig) -> tuple[int, int]:
    """(k steps per k-block, number of k-blocks) that `config` gives on `spec`."""
    if spec.k == 0 or reads_output(spec):
        return spec.k, 1
    kc = min(config.kc or auto_kc(spec, config), spec.k)
    return kc, -(-spec.k // kc)


def auto_kc(spec: MatMul, config: MatMulConfig) -> int:
    """k steps per k-block: all of k while one column tile's strip of bmat (k rows) spans
    few enough pages and `a`'s rows fit L1, else equal blocks (a multiple of ku) that do."""
    pitch_bytes = 4 * max(spec.bmat.strides[-2], 1)
    limit = min(STRIP_PAGES * PAGE_BYTES // min(pitch_bytes, PAGE_BYTES), A_ROWS_BYTES // (4 * config.mr))
    limit = max(limit, config.ku)
    if spec.k <= limit:
        return spec.k
    blocks = -(-spec.k // limit)
    return _round_up(-(-spec.k // blocks), config.ku)


def _round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to
