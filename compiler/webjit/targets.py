"""What kernels are generated for: one value per backend, passed down from the options.

The defaults describe any client (a bundle compiled for them runs everywhere); the tuner
builds a target from what the runtime reports about the device it measures on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .webgpu.kernel import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class WasmTarget:
    """The CPU model of the WASM schedule pruning, and the engine features kernels may use."""
    threads: int = 4  # workers the runtime starts: min(cores, 4) in browsers
    relaxed_simd: bool = False  # f32x4.relaxed_madd; not every engine validates it
    simd_registers: int = 15  # x64 has 16 xmm registers and V8 keeps one for scratch
    l1_bytes: int = 32 << 10  # first-level data cache
    panel_bytes: int = 1 << 20  # an n-block's panel of bmat (k x nb floats) should stay in L2
    tlb_pages: int = 48  # 4 KiB pages one column strip of bmat may span (L1 dTLBs hold ~64)
    page_bytes: int = 4096
    row_pad: int = 16  # floats added to constant bmat rows whose pitch is a multiple of page_bytes (one L1 set)

    def to_json(self) -> dict:
        return {"threads": self.threads, "relaxed_simd": self.relaxed_simd}


@dataclass(frozen=True)
class WebgpuTarget:
    """The device limits WGSL kernels must respect, and the register budget of the pruning."""
    limits: Limits = DEFAULT_LIMITS
    max_registers: int = 64  # f32 values per invocation before real GPUs start to spill

    def to_json(self) -> dict:
        return {"limits": self.limits.to_json()}


@dataclass(frozen=True)
class Targets:
    wasm: WasmTarget = field(default_factory=WasmTarget)
    webgpu: WebgpuTarget = field(default_factory=WebgpuTarget)

    def of(self, backend: str):
        return self.wasm if backend == "wasm" else self.webgpu

    @classmethod
    def from_manifest(cls, manifest: dict) -> "Targets":
        """The targets a bundle's kernels were generated for (manifest "targets")."""
        stated = manifest.get("targets", {})
        wasm = WasmTarget(**{k: v for k, v in stated.get("wasm", {}).items() if k in ("threads", "relaxed_simd")})
        limits = manifest.get("webgpu", {}).get("limits")
        return cls(wasm, WebgpuTarget(Limits.from_json(limits)) if limits else WebgpuTarget())
