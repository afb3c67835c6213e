"""WebGPU MatMul kernels with given schedule configs (every config of the space, scalar and
vec4 paths, dispatch grids, epilogues under lowered limits), run in Node on SwiftShader
against numpy float64. The default config's shapes, batching, epilogues and lowered limits
are shared cases (tests/kernel_cases.py, tests/test_kernels_webgpu.py).

All kernels of this file run in two Node processes (starting the GPU device is the slow
part): `results` runs every case once, and each test checks its own cases."""
import dataclasses

import pytest

from webjit.errors import CompileError
from webjit.kernels import Access
from webjit.targets import WebgpuTarget
from webjit.webgpu.kernel import DEFAULT_LIMITS, Limits
from webjit.webgpu.matmul import FAMILY
from webjit.webgpu.matmul_schedule import DEFAULT, SPACE, MatMulConfig, registers, workgroup_storage
from kernel_cases import gelu_spec, make_spec, matmul_inputs as inputs, matmul_reference as reference, \
    strided_extras_spec
import webgpu_harness
from webgpu_harness import wgsl as emit
from numerics import assert_close


def fits(config, spec, limits=DEFAULT_LIMITS):
    return FAMILY.fits(config, spec, WebgpuTarget(limits))


def runs_on(config, limits=DEFAULT_LIMITS):
    """Whether `config` respects the device limits (the hard constraints) on a plain matmul
    (implicit configs need a convolution's GEMM: tests/kernel_cases.py runs those)."""
    return not FAMILY.violated(config, make_spec((), 8, 8, 8), WebgpuTarget(limits), hard_only=True)


CHUNKED = 4096  # max_binding_bytes of the lowered limits: args of over 1024 floats are chunked
LOW_64 = Limits(max_invocations=64, max_workgroup_storage=4096, max_binding_bytes=CHUNKED)


def space_cases():
    """Every config of SPACE that runs on the default limits, on one of a few small shapes."""
    shapes = [(11, 45, 9), (37, 72, 24), (1, 40, 33), (33, 64, 17)]
    fitting = [c for c in SPACE if runs_on(c)]
    return [(f"space-{c}", make_spec((), *shapes[i % len(shapes)]), c, DEFAULT_LIMITS)
            for i, c in enumerate(fitting)]


def build_cases():
    """name -> (spec, config, limits, reference epilogue); config None: default_config."""
    cases = [
        ("transposed-a-scalar", make_spec((2,), 10, 21, 9, a_strides=(90, 1, 10),
                                          b_strides=(9 * 24, 24, 1)),
         MatMulConfig(8, 8, 2, 2, 8, 1), DEFAULT_LIMITS),
        # More workgroups than one dispatch dimension takes: a 2-d grid with ids past the end.
        ("dispatch-grid", make_spec((3,), 20, 20, 8), MatMulConfig(8, 4, 1, 4, 8, 4),
         Limits(max_workgroups_per_dim=4)),
        # the vec4 path, and where it must not be taken
        ("transposed-a-pitch-vec4", make_spec((2,), 10, 20, 9, a_strides=(90, 1, 10),
                                              b_strides=(9 * 24, 24, 1)), None, DEFAULT_LIMITS),
        ("transposed-a-pitch", make_spec((2,), 10, 21, 9, a_strides=(90, 1, 10),
                                         b_strides=(9 * 24, 24, 1)), None, DEFAULT_LIMITS),
        ("batched-broadcast-vec4", make_spec((2, 3), 6, 12, 7, a_strides=(42, 0, 7, 1),
                                             b_strides=(0, 84, 12, 1)), None, DEFAULT_LIMITS),
        ("low-4k-(40, 40, 40)", make_spec((), 40, 40, 40), None, LOW_64),
    ]
    cases += space_cases()
    return {name: (spec, config, limits, None) for name, spec, config, limits in cases}


def epilogue_cases():
    gelu, gelu_want = gelu_spec()
    strided, strided_want = strided_extras_spec()
    chunked, _ = gelu_spec((2,), 24, 40, 16)  # residual, bmat and out in two chunks each
    return {"epilogue-gelu-scalar": (gelu, MatMulConfig(8, 8, 2, 2, 16, 1), DEFAULT_LIMITS, gelu_want),
            "epilogue-gelu-low": (gelu, None, LOW_64, gelu_want),
            "epilogue-gelu-low-chunked": (chunked, None, LOW_64, gelu_want),
            "epilogue-strided": (strided, MatMulConfig(4, 8, 4, 4, 16, 4), DEFAULT_LIMITS, strided_want)}


CASES = {**build_cases(), **epilogue_cases()}


@pytest.fixture(scope="module")
def results():
    """name -> (got, want, kernel) for every case, run in two Node processes."""
    done = {}
    for chunked in (False, True):
        names = [n for n, c in CASES.items() if (c[2].max_binding_bytes == CHUNKED) == chunked]
        kernels, runs = {}, []
        for name in names:
            spec, config, limits, _ = CASES[name]
            kernels[name] = emit(spec, config, limits)
            runs.append((kernels[name], inputs(spec), [2]))
        answers = webgpu_harness.run_wgsl_many(runs, CHUNKED if chunked else None)
        for name, (_, arrays, _), answer in zip(names, runs, answers):
            spec, _, _, epilogue = CASES[name]
            want = reference(spec, arrays, epilogue or (lambda x, extras: x))
            done[name] = (answer, want, kernels[name])
    return done


def check(results, name):
    got, want, _ = results[name]
    if isinstance(got, Exception):
        raise got
    assert_close(got[0].reshape(want.shape), want, 1e-5, name)


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith("space-")])
def test_matmul_cases(results, name):
    check(results, name)


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("space-")])
def test_matmul_every_config(results, name):
    check(results, name)


def test_chunked_args_are_really_chunked(results):
    kernel = results["low-4k-(40, 40, 40)"][2]
    assert sum(b.arg == 0 for b in kernel.bindings) == 2  # 1600 floats in two chunks
    assert "a0_1" in kernel.source
    kernel = results["epilogue-gelu-low-chunked"][2]
    assert sum(b.arg == 4 for b in kernel.bindings) == 2  # the residual


def test_vec4_loads_only_where_aligned(results):
    assert "array<vec4<f32>>" in results["transposed-a-pitch-vec4"][2].source
    assert "array<vec4<f32>>" in results["batched-broadcast-vec4"][2].source
    assert "array<vec4<f32>>" not in results["transposed-a-pitch"][2].source  # n = 21
    assert "array<vec4<f32>>" not in results["low-4k-(40, 40, 40)"][2].source  # bmat chunked
    shifted = dataclasses.replace(make_spec((), 8, 8, 8), bmat=Access(1, (8, 1), 2))
    assert "array<vec4<f32>>" not in emit(shifted).source  # offset 2 is not 16-byte aligned


def test_dispatch_uses_a_grid():
    kernel = emit(*[CASES["dispatch-grid"][i] for i in (0, 1, 2)])
    assert kernel.dispatch == (4, 4, 1)  # 3 batches x 5 row tiles x 1 column tile = 15 > 4
    assert "if (wg >= 15)" in kernel.source


def test_space_is_pruned_by_limits():
    spec = make_spec((), 128, 384, 384)
    survivors = [c for c in SPACE if fits(c, spec)]
    assert DEFAULT in survivors and 20 <= len(survivors) <= 60  # dozens of the space's points, pruned
    assert all(registers(c) <= 64 and workgroup_storage(c) <= 16384 for c in survivors)
    low = [c for c in SPACE if fits(c, spec, LOW_64)]
    assert 0 < len(low) < len(survivors)
    assert all(c.wg_x * c.wg_y <= 64 and workgroup_storage(c) <= 4096 for c in low)


def test_matrix_vector_products_get_one_row_tiles():
    """m = 1 keeps only tiles of one row: a 64-row tile would idle 63 of every 64 rows."""
    spec = make_spec((), 1, 768, 768)
    survivors = FAMILY.candidates(spec, WebgpuTarget())
    assert survivors and all(c.wg_y * c.tm == 1 for c in survivors)
    default = FAMILY.default_config(spec, WebgpuTarget())
    assert default.wg_y * default.tm == 1 and default in survivors


@pytest.mark.parametrize("invocations", [32, 64, 128, 256])
@pytest.mark.parametrize("storage", [4096, 8192, 16384])
def test_default_config_respects_the_limits(invocations, storage):
    limits = Limits(max_invocations=invocations, max_workgroup_storage=storage)
    spec = make_spec((), 64, 64, 64)
    config = FAMILY.default_config(spec, WebgpuTarget(limits))
    assert fits(config, spec, limits)
    kernel = emit(spec, config, limits)
    x, y, z = kernel.workgroup
    assert x * y * z <= invocations and workgroup_storage(config) <= storage
    assert (config == DEFAULT) == (invocations >= 256 and storage >= workgroup_storage(DEFAULT))


def test_rejects_bad_config():
    spec = make_spec((), 4, 8, 4)
    with pytest.raises(CompileError, match="dividing tn"):
        emit(spec, MatMulConfig(16, 16, 4, 2, 16, 4))
    with pytest.raises(CompileError, match="maxComputeInvocationsPerWorkgroup"):
        emit(spec, DEFAULT, LOW_64)
    with pytest.raises(CompileError, match="storage buffers"):
        emit(make_spec((), 40, 40, 40), None, Limits(max_binding_bytes=1024))
