"""`webjit compile --jit`: the candidates the runtime's JIT measures on the client device.

The device a bundle will run on is unknown when it is compiled, so the bundle carries, for
its hottest kernels (ranked by estimated work), the surviving points of their schedule
spaces as ready code. The runtime fetches them only when it starts tuning (docs/jit.md).

    hot = hot_kernels(kernels, backend)                 # indices, hottest first
    per hot kernel: jit_candidates(spec, backend, target, exclude=configs of its forms)
    jit_text(...)                                       # jit.txt of --dump

WASM candidates are pruned for 1, 2 and 4 threads (the runtime's pool has at most 4) and
with and without relaxed SIMD; each candidate lists the thread counts it survived for and
what it requires, and the runtime measures those that suit it. A convolution's GEMM keeps
its form: the JIT swaps code between runs but does not change which steps run, so
candidates read the columns the way the bundle's default does (implicit or not).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from .family import Family
from .kernels import flops, spec_text
from .schedule import Kernel, families
from .symbolic import upper
from .wasm.codegen import wasm_kernel
from .webgpu.codegen import wgsl_kernel

SHARE = 0.98  # hot kernels: the fewest, hottest first, whose estimated work reaches this share ...
MAX_KERNELS = 16  # ... but never more than this many
MIN_SHARE = 0.002  # and none below this share of the estimated work
WASM_THREADS = (1, 2, 4)
ELEMENT_WORK = 64  # estimated work of one element a non-MatMul kernel moves, in flops (measured:
# a softmax element costs about what 90 MatMul flops do in WASM here)


@dataclass(frozen=True)
class Candidate:
    config: dict  # JSON form, resolved
    code: bytes
    requires: tuple[str, ...]
    threads: tuple[int, ...] = ()  # WASM: the thread counts it survived pruning for
    entry: str = ""  # WebGPU
    workgroup: tuple[int, int, int] | None = None
    dispatch: tuple[int, int, int] | None = None
    bindings: tuple = ()  # WebGPU: must be the default's (candidates share its bind groups)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.code).hexdigest()


def estimated_work(spec, calls: int) -> float:
    """What a kernel costs per run before any measurement: its flops (MatMul), else about
    the elements it moves (its outputs, once per argument: a gather reads a few rows of a
    large table, not the table), weighted as a memory-bound kernel runs."""
    per_call = upper(flops(spec)) or ELEMENT_WORK * sum(a.size for a in spec.args if a.output) * len(spec.args)
    return float(per_call) * calls  # symbolic sizes: at their largest


def hot_kernels(kernels: list[Kernel], backend: str) -> list[int]:
    """Indices of the kernels worth tuning on the client, hottest first: kernels whose family
    has more than one schedule, in order of estimated work, until SHARE of the total."""
    table = families(backend)
    work = [estimated_work(k.spec, len(k.steps)) for k in kernels]
    total = sum(work) or 1.0
    ranked = sorted((i for i, k in enumerate(kernels) if len(table[k.spec.family].space) > 1
                     and not (backend == "webgpu" and getattr(k.spec, "dims", ()))),
                    key=lambda i: -work[i])  # WebGPU candidates have fixed dispatches: none for symbolic sizes
    chosen, covered = [], 0.0
    for i in ranked:
        if covered >= SHARE * total or len(chosen) == MAX_KERNELS or work[i] < MIN_SHARE * total:
            break
        chosen.append(i)
        covered += work[i]
    return chosen


def _targets(backend: str, target) -> list:
    """The targets candidates are pruned for, the bundle's own first (relaxed SIMD on): the
    client's thread count and engine features are unknown (WASM), the bundle's stated limits
    are known (WebGPU)."""
    if backend != "wasm":
        return [target]
    home = replace(target, relaxed_simd=True)
    others = [replace(target, threads=t, relaxed_simd=r) for r in (True, False) for t in WASM_THREADS]
    return [home, *(t for t in others if t != home)]


def jit_candidates(spec, backend: str, target, forms: list[dict]) -> list[Candidate]:
    """The surviving configs of `spec`'s space on `backend` as code, cheapest estimate first
    (for the bundle's own target), deduplicated by code, without the configs of the kernel's
    `forms` (its default first, then its variants) and without configs that read a
    convolution's columns otherwise than the default does."""
    family: Family = families(backend)[spec.family]
    implicit = bool(forms[0].get("implicit", False))
    found: dict[str, Candidate] = {}
    order: list[tuple[int, float, str]] = []
    for t_index, t in enumerate(_targets(backend, target)):
        for config in family.candidates(spec, t):
            config_json = family.config_to_json(config)
            if config_json in forms or bool(config_json.get("implicit", False)) != implicit:
                continue
            key = repr(sorted(config_json.items()))
            if key in found:
                old = found[key]
                if backend == "wasm" and t.threads not in old.threads:
                    found[key] = replace(old, threads=tuple(sorted((*old.threads, t.threads))))
                continue
            found[key] = _candidate(spec, backend, family, config, config_json, t)
            order.append((t_index > 0, family.cost(config, spec, t), key))
    by_code: dict[str, Candidate] = {}
    for _, _, key in sorted(order, key=lambda item: item[:2]):
        candidate = found[key]
        by_code.setdefault(candidate.sha256, candidate)
    return list(by_code.values())


def _candidate(spec, backend: str, family: Family, config, config_json: dict, target) -> Candidate:
    requires = tuple(family.requires(config))
    if backend == "wasm":
        return Candidate(config_json, wasm_kernel(spec, config, target).code, requires, threads=(target.threads,))
    kernel = wgsl_kernel(spec, config, target)
    return Candidate(config_json, kernel.source.encode(), requires, entry=kernel.entry,
                     workgroup=tuple(kernel.workgroup), dispatch=tuple(kernel.dispatch),
                     bindings=tuple(kernel.bindings))


def jit_text(kernels: list[Kernel], chosen: dict[str, dict[int, list[Candidate]]]) -> str:
    """jit.txt of --dump: per backend, the hot kernels and how many candidates each carries."""
    lines = []
    for backend, by_kernel in chosen.items():
        total = sum(len(c) for c in by_kernel.values())
        size = sum(len(x.code) for c in by_kernel.values() for x in c)
        lines.append(f"{backend}: {len(by_kernel)} hot kernels, {total} candidates, {size} bytes")
        for i, candidates in by_kernel.items():
            lines.append(f"  k{i} {len(candidates)} candidates: {spec_text(kernels[i].spec)}")
    return "\n".join(lines) + "\n"
