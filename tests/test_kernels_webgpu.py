"""Every shared kernel case (tests/kernel_cases.py) on WebGPU in Node (Dawn on SwiftShader),
the WebGPU-only ones with lowered limits or a given config included; all kernels run in one
Node process (starting the device is the slow part), each test checks one case."""
import pytest

from kernel_cases import build_all
from webgpu_harness import finish, run_batch, wgsl

CASES = {name: case for name, case in build_all().items() if "webgpu" in case.backends}


@pytest.fixture(scope="module")
def results():
    builders = {name: (lambda case=case: (wgsl(case.spec, case.config("webgpu"), case.limits), case.args,
                                           case.outputs, case.check))
                for name, case in CASES.items()}
    return run_batch(builders)


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    finish(results, name)


def test_lowered_limits_are_respected(results):
    """Cases compiled for lowered limits generate kernels within them (and some really chunk)."""
    chunked = 0
    for name, case in CASES.items():
        if case.limits is None:
            continue
        kernel = wgsl(case.spec, case.config("webgpu"), case.limits)
        x, y, z = kernel.workgroup
        assert x * y * z <= case.limits.max_invocations, name
        assert max(kernel.dispatch) <= case.limits.max_workgroups_per_dim, name
        assert len(kernel.bindings) <= case.limits.max_storage_buffers, name
        assert all(b.count * 4 <= case.limits.max_binding_bytes for b in kernel.bindings), name
        chunked += len(kernel.bindings) > len(case.spec.args)
    assert chunked >= 10
