"""WASM MatMul kernels with given schedule configs (every config of the space, k- and
n-blocking, the thread split, epilogues under blocking), run in Node against numpy
float64. The default config's shapes, batching and epilogues are shared cases
(tests/kernel_cases.py, tests/test_kernels_wasm.py)."""
import math

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Access, Arg, MatMul
from webjit.targets import WasmTarget
from webjit.wasm.matmul import FAMILY, emit
from webjit.wasm.matmul_schedule import DEFAULT, SPACE, MatMulConfig, k_blocks, registers
from kernel_cases import acc, const, contiguous, fnode as node, inp, make_spec, matmul_inputs as inputs, \
    matmul_reference as reference
from wasm_harness import run_wasm, validate
from numerics import assert_close

TARGET = WasmTarget(relaxed_simd=True)  # every config of the space may be generated


def fits(config, spec):
    return FAMILY.fits(config, spec, TARGET)


def resolved(spec, config):
    return FAMILY.resolve(config, spec, TARGET)


def check(spec, tmp_path, config=DEFAULT, epilogue=lambda acc, extras: acc, threads=(1, 3)):
    """Run with each thread count: results identical to each other and close to float64."""
    wasm = emit(spec, resolved(spec, config)).encode()
    validate(wasm, tmp_path, relaxed=config.fma)
    arrays = inputs(spec)
    want = reference(spec, arrays, epilogue)
    results = [run_wasm(wasm, arrays, [2], nthreads=t)[0] for t in threads]
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])
    assert_close(results[0].reshape(want.shape), want, 1e-5)


def test_matmul_large(tmp_path):
    check(make_spec((), 128, 3072, 768), tmp_path, threads=(1, 2))


def test_matmul_transposed_a_and_row_pitch(tmp_path):
    m, n, k = 10, 21, 9
    # a stored as [k, m]; bmat rows padded to a pitch of 24 floats.
    spec = make_spec((2,), m, n, k, a_strides=(m * k, 1, m), b_strides=(k * 24, 24, 1))
    check(spec, tmp_path, MatMulConfig(3, 8, 2))


def _space_shapes():
    """Each config that fits some test shape, paired with the first such shape."""
    shapes = [(11, 45, 9), (1, 40, 33), (6, 600, 480)]
    pairs = []
    for config in SPACE:
        fitting = [s for s in shapes if fits(config, make_spec((), *s))]
        if fitting:
            pairs.append((config, fitting[0]))
    return pairs


@pytest.mark.parametrize("config,shape", _space_shapes(), ids=str)
def test_matmul_every_config(config, shape, tmp_path):
    check(make_spec((), *shape), tmp_path, config, threads=(3,))


def test_space_is_pruned_by_registers():
    spec = make_spec((), 128, 3072, 768)
    survivors = [c for c in SPACE if fits(c, spec)]
    assert DEFAULT in survivors and 20 <= len(survivors) < len(SPACE)
    assert all(registers(c) <= 15 for c in survivors)
    matvec = make_spec((), 1, 384, 384)  # 4 rows for m = 1: the same kernel as 1 row
    assert resolved(matvec, MatMulConfig(4, 8)) == resolved(matvec, MatMulConfig(1, 8))


def test_epilogue_bias_gelu_residual(tmp_path):
    batch, m, n, k = (2,), 9, 22, 16
    # bias per column (broadcast over batch and rows), residual with full strides.
    gelu_in = node("add", acc(), inp(0))
    gelu = node("mul", node("mul", const(0.5), gelu_in),
                node("add", const(1.0), node("erf", node("mul", gelu_in, const(1 / math.sqrt(2))))))
    spec = make_spec(batch, m, n, k, extras=[(0, 0, 1), contiguous(batch + (m, n))],
                     epilogue=node("add", gelu, inp(1)))

    def want(x, extras):
        from math import erf
        y = x + extras[0]
        return 0.5 * y * (1 + np.vectorize(erf)(y / math.sqrt(2))) + extras[1]

    check(spec, tmp_path, MatMulConfig(4, 8), want)


def test_epilogue_strided_and_broadcast_extras(tmp_path):
    m, n, k = 7, 13, 5
    # extra 0 transposed (n stride m), extra 1 one value per row (n stride 0).
    spec = make_spec((), m, n, k, extras=[(1, m), (1, 0)],
                     epilogue=node("mul", node("sub", acc(), inp(0)), inp(1)))
    check(spec, tmp_path, MatMulConfig(2, 8), lambda x, e: (x - e[0]) * e[1])


def test_rejects_bad_and_unresolved_configs_and_strides():
    spec = make_spec((), 4, 8, 4)
    with pytest.raises(CompileError, match="multiple of 4"):
        emit(spec, MatMulConfig(4, 6, 1, 12, 4))
    with pytest.raises(CompileError, match="not resolved"):
        emit(spec, MatMulConfig(4, 8, 1, 20, 4))  # nb not a multiple of nr
    with pytest.raises(CompileError, match="not resolved"):
        emit(spec, DEFAULT)  # nb = 0 and kc = 0 are "automatic": resolve them first
    with pytest.raises(CompileError, match="negative"):
        emit(make_spec((), 4, 8, 4, a_strides=(-4, 1)), resolved(spec, DEFAULT))
    assert FAMILY.violated(MatMulConfig(4, 8, 1, 0, -1), spec, TARGET, hard_only=True)


# k-blocking: the first k-block stores partial sums, later ones add, the last applies the epilogue.

@pytest.mark.parametrize("m,n,k,config", [
    (13, 29, 70, MatMulConfig(4, 8, 1, 0, 16)),  # 5 blocks, the last 6 deep
    (9, 40, 17, MatMulConfig(4, 8, 1, 0, 17)),  # kc = k: one block
    (7, 13, 5, MatMulConfig(2, 8, 1, 0, 1)),  # one k step per block
    (11, 45, 9, MatMulConfig(3, 12, 2, 0, 3)),  # kc odd with ku = 2: a tail in every block
    (6, 600, 480, MatMulConfig(4, 8, 1, 96, 64)),  # n-blocks and k-blocks
    (1, 40, 33, MatMulConfig(1, 8, 1, 0, 8, fma=True)),  # m = 1: threads split n
], ids=str)
def test_k_blocked(m, n, k, config, tmp_path):
    assert k_blocks(make_spec((), m, n, k), config.kc) == (min(config.kc, k), -(-k // config.kc))
    check(make_spec((), m, n, k), tmp_path, config)


def test_k_blocked_batched_with_broadcast(tmp_path):
    batch, m, n, k = (2, 3), 6, 11, 7
    spec = make_spec(batch, m, n, k, a_strides=(m * k, 0, k, 1), b_strides=(0, k * n, n, 1))
    check(spec, tmp_path, MatMulConfig(4, 8, 1, 0, 2))


def test_k_blocked_epilogue(tmp_path):
    batch, m, n, k = (2,), 9, 22, 16
    spec = make_spec(batch, m, n, k, extras=[(0, 0, 1), contiguous(batch + (m, n))],
                     epilogue=node("add", node("relu", node("add", acc(), inp(0))), inp(1)))
    config = MatMulConfig(4, 8, 1, 0, 5)  # blocks of 5, 5, 5, 1
    assert k_blocks(spec, config.kc) == (5, 4)
    check(spec, tmp_path, config, lambda x, e: np.maximum(x + e[0], 0) + e[1])


def test_k_blocked_strided_extras(tmp_path):
    m, n, k = 7, 13, 5
    spec = make_spec((), m, n, k, extras=[(1, m), (1, 0)],
                     epilogue=node("mul", node("sub", acc(), inp(0)), inp(1)))
    check(spec, tmp_path, MatMulConfig(2, 8, 1, 0, 2), lambda x, e: (x - e[0]) * e[1])


def test_auto_kc_blocks_deep_k_with_wide_pitch(tmp_path):
    m, n, k = 20, 70, 600
    # A bmat pitch past 4 KiB puts every row on its own page: automatic kc cuts k.
    spec = make_spec((), m, n, k, b_strides=(1100, 1), extras=[(0, 1)],
                     epilogue=node("add", acc(), inp(0)))
    kc, blocks = k_blocks(spec, resolved(spec, DEFAULT).kc)
    assert blocks > 1 and kc * (blocks - 1) < k <= kc * blocks
    check(spec, tmp_path, DEFAULT, lambda x, e: x + e[0])


def test_auto_kc_keeps_shallow_k_whole():
    spec = make_spec((), 3136, 64, 576)
    assert k_blocks(spec, resolved(spec, DEFAULT).kc) == (576, 1)
    spec = make_spec((), 197, 768, 3072)
    kc, blocks = k_blocks(spec, resolved(spec, DEFAULT).kc)
    assert blocks > 1 and kc * blocks >= 3072
    spec = make_spec((), 16, 64, 32)  # one block either way: one config, the same module
    assert resolved(spec, MatMulConfig(4, 8, 1, 0, 32)) == resolved(spec, DEFAULT)


def test_epilogue_reading_out_is_never_k_blocked(tmp_path):
    """out = acc + out (accumulate in place): partial sums in out would be read back."""
    m, n, k = 6, 12, 10
    out = Access(2, contiguous((m, n)))
    spec = MatMul((), m, n, k, Access(0, contiguous((m, k))), Access(1, contiguous((k, n))), out,
                  (out,), node("add", acc(), inp(0)),
                  (Arg("f32", m * k), Arg("f32", k * n), Arg("f32", m * n, output=True)))
    config = MatMulConfig(2, 8, 1, 0, 3)
    assert resolved(spec, config).kc == k and k_blocks(spec, 3) == (k, 1)
    arrays = inputs(spec)
    want = arrays[0].reshape(m, k).astype(np.float64) @ arrays[1].reshape(k, n) + arrays[2].reshape(m, n)
    got = run_wasm(emit(spec, resolved(spec, config)).encode(), arrays, [2], nthreads=3)[0]
    assert_close(got.reshape(m, n), want, 1e-5)
