"""WGSL code generation: a kernel spec and its resolved config -> WgslKernel (source, launch
shape, bindings). FAMILIES is the one table of the backend's schedule records."""
from __future__ import annotations

from ..symbolic import SymbolicError
from ..targets import WebgpuTarget
from ..verify import verify
from . import attention, conv, elementwise, gather, matmul, reductions
from .kernel import WgslKernel

FAMILIES = {f.name: f for f in (elementwise.FAMILY, matmul.FAMILY, reductions.REDUCE, reductions.SOFTMAX,
                                reductions.LAYERNORM, gather.GATHER, gather.CUMSUM, conv.IM2COL, conv.POOL,
                                conv.DEPTHWISE, attention.FAMILY)}


# The families whose generators read symbolic sizes (webgpu/sizes.py); each refuses, in one
# sentence, the symbolic fields it cannot handle (e.g. a MatMul's n or k).
SYMBOLIC = ("elementwise", "gather", "layernorm", "reduce", "softmax", "matmul", "attention")


def wgsl_kernel(spec, config, target: WebgpuTarget = WebgpuTarget()) -> WgslKernel:
    """The WGSL kernel of `spec` generated with `config` (resolved by the family's record)."""
    verify(spec)
    if getattr(spec, "dims", ()) and spec.family not in SYMBOLIC:
        raise SymbolicError(f"webjit does not compile WebGPU {spec.family} kernels for symbolic sizes yet; compile "
                            f"with --backend wasm, or give each dimension one size")
    return FAMILIES[spec.family].generate(spec, config, target)


def default_kernel(spec, target: WebgpuTarget = WebgpuTarget()) -> WgslKernel:
    """The WGSL kernel of `spec` with its family's default config for `target`."""
    verify(spec)
    return wgsl_kernel(spec, FAMILIES[spec.family].default_config(spec, target), target)
