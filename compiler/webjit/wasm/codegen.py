"""WASM code generation: a kernel spec and its resolved config -> module bytes (and WAT
text for dumps). FAMILIES is the one table of the backend's schedule records."""
from __future__ import annotations

from dataclasses import dataclass

from ..targets import WasmTarget
from ..verify import verify
from . import attention, conv, depthwise, elementwise, gather, matmul, pool, reductions

FAMILIES = {f.name: f for f in (elementwise.FAMILY, matmul.FAMILY, reductions.REDUCE, reductions.SOFTMAX,
                                reductions.LAYERNORM, gather.GATHER, gather.CUMSUM, conv.IM2COL, pool.POOL,
                                depthwise.DEPTHWISE, attention.FAMILY)}


@dataclass(frozen=True)
class WasmKernel:
    code: bytes
    module: object  # the encoder Module, for WAT text on demand

    def wat(self) -> str:
        return self.module.to_wat()


def wasm_kernel(spec, config, target: WasmTarget = WasmTarget()) -> WasmKernel:
    """The module of `spec` generated with `config` (resolved by the family's record)."""
    verify(spec)
    module = FAMILIES[spec.family].generate(spec, config, target)
    return WasmKernel(module.encode(), module)


def default_kernel(spec, target: WasmTarget = WasmTarget()) -> WasmKernel:
    """The module of `spec` with its family's default config (what a bundle runs everywhere)."""
    verify(spec)
    return wasm_kernel(spec, FAMILIES[spec.family].default_config(spec, target), target)
