"""WGSL code generation: a kernel spec -> WgslKernel (source, launch shape, bindings)."""
from __future__ import annotations

from . import conv, elementwise, gather, matmul, reductions
from .kernel import DEFAULT_LIMITS, Limits, WgslKernel

EMITTERS = {
    "elementwise": elementwise.emit,
    "matmul": matmul.emit,
    "reduce": reductions.emit_reduce,
    "softmax": reductions.emit_softmax,
    "layernorm": reductions.emit_layernorm,
    "gather": gather.emit_gather,
    "cumsum": gather.emit_cumsum,
    "im2col": conv.emit_im2col,
    "pool": conv.emit_pool,
}


def wgsl_kernel(spec, config=None, limits: Limits = DEFAULT_LIMITS) -> WgslKernel:
    """Emit the WGSL kernel for `spec` with `config` (None: the family's default for `limits`)."""
    return EMITTERS[spec.family](spec, config, limits)
