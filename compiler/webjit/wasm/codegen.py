"""WASM code generation: a kernel spec -> module bytes (and WAT text for dumps)."""
from __future__ import annotations

from dataclasses import dataclass

from . import conv, elementwise, gather, matmul, reductions

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


@dataclass(frozen=True)
class WasmKernel:
    code: bytes
    module: object  # the encoder Module, for WAT text on demand

    def wat(self) -> str:
        return self.module.to_wat()


def wasm_kernel(spec, config=None) -> WasmKernel:
    """Emit the module for `spec` with `config` (None: the family's default)."""
    module = EMITTERS[spec.family](spec, config) if config is not None else EMITTERS[spec.family](spec)
    return WasmKernel(module.encode(), module)
