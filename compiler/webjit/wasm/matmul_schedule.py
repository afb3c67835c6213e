"""The WASM MatMul schedule space: the config a kernel is generated with, the literal list
the tuner measures, its pruning by a simple model of the CPU (SIMD registers, caches,
pages), the resolution of automatic blocks, and a cost estimate. matmul.py generates the
kernel for one resolved config.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..family import Constraint
from ..kernels import MatMul, prod
from ..symbolic import Sym, fixed, lower_bound, upper
from ..targets import WasmTarget

AUTO_NB = 96  # nb = 0 picks this when all of bmat is bigger than a panel (a multiple of every nr)
# kc = 0 cuts k so that the kc rows of bmat one column tile reads span at most
# target.tlb_pages pages and the tile's rows of `a` (mr x kc floats) stay well inside L1.
# Measured on 197x768x3072 (a 3 KiB pitch), 4x8 tile: 9 GFLOP/s with one block (2,304 pages
# per strip), 30 with kc = 512 (384 pages), 33 with kc = 64.
# One row (m = 1, a decode step) reads every element of bmat once, so it is bound by memory,
# not registers: tiles of 16 columns, k-blocks of 8 rows (16 for deep k), and n-blocks that
# each k-block reads whole in order, two per thread, of 192 to 8192 columns. Measured in Node
# on GPT-2's m = 1 products (768x2304, 768x3072, 3072x768, 768x50257): 1.9-2.3x faster on one
# thread and 1.2-2.3x on two than the default's clipped (1, 8) tiles of 96 columns; the best
# n-block was n / (2 * threads) within 10%, and narrower than 192 columns lost on one thread.
ROW_NR, ROW_KC, ROW_KC_DEEP, ROW_DEEP_K = 16, 8, 16, 2048
ROW_NB_MIN, ROW_NB_MAX = 192, 8192
A_ROWS_SHARE = 2  # a's rows of a tile may take half of L1
UNITS_PER_THREAD = 2  # with fewer row tiles than this per thread, also split n


@dataclass(frozen=True)
class MatMulConfig:
    mr: int = 4  # rows of the register tile
    nr: int = 8  # columns of the register tile, a multiple of 4
    ku: int = 1  # k loop unroll
    nb: int = 0  # columns per n-block (a multiple of nr) for cache reuse; 0: automatic
    kc: int = 0  # k steps per k-block; 0: automatic
    fma: bool = False  # f32x4.relaxed_madd (relaxed SIMD) instead of mul + add
    implicit: bool = False  # a convolution: pack each n-block's columns from the image (no Im2Col step)
    # A symbolic m at 1 (a decode step) takes its own path, a one-row config with these
    # blocks (set by resolve, see one_row); 0: the spec has no such path.
    row_nb: int = field(default=0, metadata={"quiet": True})
    row_kc: int = field(default=0, metadata={"quiet": True})


DEFAULT = MatMulConfig(4, 8, 1, 0, 0)

# Register tiles (mr, nr); the register constraint drops those that would spill.
_TILES = ((1, 8), (1, 16), (1, 24), (2, 8), (2, 12), (2, 16), (3, 8), (3, 12), (4, 4),
          (4, 8), (4, 12), (5, 8), (6, 4), (6, 8), (8, 4), (3, 16))
SPACE: tuple[MatMulConfig, ...] = tuple(
    [MatMulConfig(mr, nr, ku, nb) for mr, nr in _TILES for ku in (1, 2) for nb in (0, 96, 192)]
    + [MatMulConfig(mr, nr, 1, 0, kc) for mr, nr in ((4, 8), (2, 16), (3, 12)) for kc in (32, 128, 512)]
    + [MatMulConfig(mr, nr, 1, nb, fma=True) for mr, nr in ((4, 8), (3, 12), (5, 8), (6, 8))
       for nb in (0, 96, 192)]
    + [MatMulConfig(mr, nr, 1, 0, kc, fma=True) for mr, nr in ((4, 8), (3, 12)) for kc in (32, 128)]
    # convolutions: the columns packed per n-block from the image, in cache when the tiles read them
    + [MatMulConfig(mr, nr, 1, nb, implicit=True, fma=fma) for mr, nr, fma in ((4, 8, False), (3, 12, False),
                                                                              (4, 8, True), (6, 8, True))
       for nb in (0, 48, 96)])


def registers(config: MatMulConfig) -> int:
    """Vector registers a tile needs: accumulators, one row of bmat, one splat of a
    (the tile splats `a` one row at a time, so mr splats are never live together)."""
    return config.mr * config.nr // 4 + config.nr // 4 + 1


def reads_output(spec: MatMul) -> bool:
    """Whether the epilogue reads `out` itself, which then must not hold partial sums:
    such a spec is never k-blocked."""
    return any(extra.arg == spec.out.arg for extra in spec.extras)


def _n_blocked(config: MatMulConfig, spec: MatMul) -> bool:
    return 0 < config.nb < _round_up(max(spec.n, 1), config.nr)


def _k_blocked(config: MatMulConfig, spec: MatMul) -> bool:
    return 0 < config.kc < spec.k


def _panel_fits(config: MatMulConfig, spec: MatMul, target: WasmTarget) -> bool:
    """An explicit n-block pays only where bmat is bigger than a panel, and its panel fits
    (the automatic block, which also splits n between threads, always does)."""
    if not _n_blocked(config, spec) or config.nb == _resolve_nb(replace(config, nb=0), spec, target):
        return True
    kc = config.kc if _k_blocked(config, spec) else auto_kc(spec, config, target)
    return spec.k * spec.n * 4 > target.panel_bytes and min(kc, spec.k) * config.nb * 4 <= target.panel_bytes


CONSTRAINTS = (
    Constraint("tile shape: nr a multiple of 4, nb of nr, every size >= 1",
               lambda c, s, t: c.mr >= 1 and c.nr >= 4 and c.nr % 4 == 0 and c.ku >= 1
               and c.nb >= 0 and c.kc >= 0 and c.nb % c.nr == 0, hard=True),
    Constraint("relaxed SIMD (fma) only where the engine has it",
               lambda c, s, t: not c.fma or t.relaxed_simd, hard=True),
    Constraint("implicit columns only for a convolution's GEMM", lambda c, s, t: not c.implicit or s.im2col is not None,
               hard=True),
    Constraint("registers: mr*nr/4 + nr/4 + 1 <= the SIMD registers",
               lambda c, s, t: registers(c) <= t.simd_registers),
    Constraint("n-blocks only for a bmat bigger than a panel, and the panel within L2",
               lambda c, s, t: _panel_fits(c, s, t)),
)


def k_blocks(spec: MatMul, kc: int) -> tuple[int, int]:
    """(k steps per k-block, number of k-blocks) of a resolved `kc` on `spec`."""
    if spec.k == 0 or reads_output(spec):
        return spec.k, 1
    kc = min(kc, spec.k)
    return kc, -(-spec.k // kc)


def auto_kc(spec: MatMul, config: MatMulConfig, target: WasmTarget) -> int:
    """k steps per k-block: all of k while one column tile's strip of bmat (k rows) spans
    few enough pages and `a`'s rows fit L1, else equal blocks (a multiple of ku) that do."""
    pitch_bytes = 4 * max(spec.bmat.strides[-2], 1)
    limit = min(target.tlb_pages * target.page_bytes // min(pitch_bytes, target.page_bytes),
                target.l1_bytes // A_ROWS_SHARE // (4 * config.mr))
    limit = max(limit, config.ku)
    if spec.k <= limit:
        return spec.k
    blocks = -(-spec.k // limit)
    return _round_up(-(-spec.k // blocks), config.ku)


def resolve(config: MatMulConfig, spec: MatMul, target: WasmTarget) -> MatMulConfig:
    """Every automatic field made explicit, and fields past the spec's size clipped (tile
    rows to m, columns to n, the k unroll to a k-block; no k-blocks where the epilogue reads
    out), so that configs generating the same module compare equal."""
    from .matmul import check_symbolic  # the kernel's own statement of what it can take
    check_symbolic(spec)
    row_nb = row_kc = 0
    if isinstance(spec.m, Sym) and lower_bound(spec.m) <= 1 and not config.implicit:
        row = one_row(spec, target, config.fma)
        row_nb, row_kc = row.nb, row.kc
    config = replace(config, row_nb=row_nb, row_kc=row_kc)
    mr = min(config.mr, max(upper(spec.m), 1))  # a symbolic m: tiles for its largest size
    nr = min(config.nr, _round_up(max(spec.n, 1), 4))
    config = replace(config, mr=mr, nr=nr, nb=config.nb - config.nb % nr if config.nb >= nr else config.nb)
    kc = config.kc or auto_kc(spec, config, target)
    kc, _ = k_blocks(spec, max(kc, 1))
    ku = min(config.ku, max(kc, 1))
    return replace(config, ku=ku, kc=max(kc, 1) if spec.k else 0, nb=_resolve_nb(config, spec, target))


def one_row(spec: MatMul, target: WasmTarget, fma: bool = False) -> MatMulConfig:
    """The resolved config for `spec` at m = 1 (ROW_NR and the blocks above)."""
    share = _round_up(-(-max(spec.n, 1) // (UNITS_PER_THREAD * target.threads)), ROW_NR)
    nb = min(ROW_NB_MAX, max(ROW_NB_MIN, share))
    kc = ROW_KC_DEEP if spec.k >= ROW_DEEP_K else ROW_KC
    return resolve(MatMulConfig(1, ROW_NR, 1, nb, kc, fma=fma), replace(spec, m=1), target)


def row_path(config: MatMulConfig, spec: MatMul) -> MatMulConfig:
    """The one-row config a resolved `config` keeps for its symbolic m at 1."""
    return MatMulConfig(1, min(ROW_NR, _round_up(max(spec.n, 1), 4)), 1, config.row_nb, config.row_kc, fma=config.fma)


def _resolve_nb(config: MatMulConfig, spec: MatMul, target: WasmTarget) -> int:
    full = _round_up(max(spec.n, 1), config.nr)
    nb = config.nb or full
    if not config.nb and spec.k * spec.n * 4 > target.panel_bytes and AUTO_NB % config.nr == 0:
        nb = min(nb, AUTO_NB)
    want_units = UNITS_PER_THREAD * target.threads
    # Threads share (batch, n-block, row tile) units; implicit kernels share whole n-blocks.
    m = upper(spec.m)
    units = prod(spec.batch) * (1 if config.implicit else (-(-m // config.mr) if m else 0))
    if 0 < units < want_units:  # e.g. m = 1: share columns between threads, one row not below ROW_NB_MIN
        floor = _round_up(ROW_NB_MIN, config.nr) if m == 1 else config.nr
        nb = min(nb, max(floor, _round_up(-(-spec.n // -(-want_units // units)), config.nr)))
    return min(nb, full)


def default(spec: MatMul, target: WasmTarget) -> MatMulConfig | None:
    """DEFAULT where it fits, else the fitting config of the lowest estimated cost."""
    from .matmul import FAMILY, check_symbolic  # the record that holds the constraints
    check_symbolic(spec)
    if fixed(spec.m, 1) and not spec.im2col:
        return one_row(spec, target)
    if FAMILY.fits(DEFAULT, spec, target):
        return DEFAULT
    fitting = [c for c in SPACE if FAMILY.fits(c, spec, target) and not c.fma]
    return min(fitting, key=lambda c: cost(c, spec, target)) if fitting else None


def cost(config: MatMulConfig, spec: MatMul, target: WasmTarget) -> float:
    """Estimated seconds-like units: padded multiply-adds, slowed by the loads each needs
    (a tile loads nr/4 + mr vectors per mr*nr/4 multiply-adds) and by idle threads."""
    rows, cols = _round_up(max(upper(spec.m), 1), config.mr), _round_up(max(spec.n, 1), 4)
    madds = prod(spec.batch) * rows * cols * max(spec.k, 1) / 4
    loads = (config.nr // 4 + config.mr) / (config.mr * config.nr / 4)
    units = prod(spec.batch) * -(-rows // config.mr) * -(-cols // max(config.nb or cols, 4))
    idle = -(-units // target.threads) * target.threads / max(units, 1)
    packing = prod(spec.batch) * spec.k * spec.n if config.implicit else 0  # scalar copies, ~4 madds each
    return (madds * (1 + 0.5 * loads) * idle + packing) / (1.15 if config.fma else 1.0)


def accelerated(config: MatMulConfig, target: WasmTarget):
    """The same tiles with relaxed-SIMD fused multiply-adds, for engines that validate them
    (about 20% faster here, docs/benchmarks.md); the runtime probes and picks."""
    if config.fma:
        return None
    return replace(config, fma=True), replace(target, relaxed_simd=True)


def requires(config: MatMulConfig) -> tuple[str, ...]:
    """Engine features a config's module needs."""
    return ("relaxed-simd",) if config.fma else ()


def _round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to
