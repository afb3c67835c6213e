"""WGSL code generation: a kernel spec and its resolved config -> WgslKernel (source, launch
shape, bindings). FAMILIES is the one table of the backend's schedule records. A spec with
symbolic sizes (lowering gives only the families that read them one) is refused by its own
generator, in one sentence, where a field it cannot take is symbolic."""
from __future__ import annotations

from ..targets import WebgpuTarget
from ..verify import verify
from . import attention, conv, elementwise, gather, matmul, reductions
from .kernel import WgslKernel

FAMILIES = {f.name: f for f in (elementwise.FAMILY, matmul.FAMILY, reductions.REDUCE, reductions.SOFTMAX,
                                reductions.LAYERNORM, gather.GATHER, gather.CUMSUM, conv.IM2COL, conv.POOL,
                                conv.DEPTHWISE, attention.FAMILY)}


def wgsl_kernel(spec, config, target: WebgpuTarget = WebgpuTarget()) -> WgslKernel:
    """The WGSL kernel of `spec` generated with `config` (resolved by the family's record)."""
    verify(spec)
    return FAMILIES[spec.family].generate(spec, config, target)


def default_kernel(spec, target: WebgpuTarget = WebgpuTarget()) -> WgslKernel:
    """The WGSL kernel of `spec` with its family's default config for `target`."""
    verify(spec)
    return wgsl_kernel(spec, FAMILIES[spec.family].default_config(spec, target), target)
