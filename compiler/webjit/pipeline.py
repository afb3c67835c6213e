"""The compiler, top to bottom: ONNX -> graph -> passes -> kernels -> plan -> bundle."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from .bundle import Bundle, build_bundle
from .errors import CompileError
from .frontend import import_onnx
from .kernels import spec_text
from .lower import lower
from .passes import run_passes
from .plan import plan_buffers
from .wasm.codegen import wasm_kernel
from .webgpu.kernel import DEFAULT_LIMITS, Limits


BACKENDS = ("wasm", "webgpu")


@dataclass(frozen=True)
class Options:
    dump_dir: str | None = None  # write every stage's text here
    progress: Callable[[str, float], None] | None = None  # (message, fraction done)
    model_name: str = "model"
    backends: tuple[str, ...] = BACKENDS  # kernels to emit; the runtime picks among them
    limits: Limits = DEFAULT_LIMITS  # WebGPU device limits the WGSL kernels must respect


def compile(model, shapes: dict[str, tuple[int, ...]] | None = None, options: Options = Options()) -> Bundle:
    """Compile an ONNX model (path or ModelProto) with static input `shapes` into a Bundle."""
    report = options.progress or (lambda message, fraction: None)
    dump = _dumper(options.dump_dir)
    name = options.model_name
    if name == "model" and isinstance(model, (str, os.PathLike)):
        name = os.path.splitext(os.path.basename(os.fspath(model)))[0]

    report("importing the ONNX model", 0.0)
    graph = import_onnx(model, shapes)
    dump("graph.txt", graph.to_text())

    report("running graph passes", 0.2)
    graph = run_passes(graph)
    dump("passes.txt", graph.to_text())

    report("lowering to kernels", 0.3)
    program = lower(graph, options.limits.max_binding_bytes if "webgpu" in options.backends else None)
    dump("lowered.txt", program.to_text())

    specs: dict = {}  # identical specs share one kernel
    kernel_of_step = [specs.setdefault(step.spec, len(specs)) for step in program.steps]
    kernels = []
    for i, spec in enumerate(specs):
        if i % 8 == 0:
            report(f"generating kernels ({i}/{len(specs)})", 0.4 + 0.4 * i / max(len(specs), 1))
        kernels.append((spec, emit_kernel(spec, options, i, dump)))

    report("planning buffers", 0.85)
    plan = plan_buffers(program)
    dump("plan.txt", plan.to_text(program))

    report("writing the bundle", 0.9)
    bundle = build_bundle(program, plan, kernels, kernel_of_step, name, options.limits)
    report("done", 1.0)
    return bundle


def emit_kernel(spec, options: Options, index: int, dump) -> dict:
    """The kernel of `spec` for every requested backend: {"wasm": WasmKernel, "webgpu": WgslKernel}."""
    unknown = set(options.backends) - set(BACKENDS)
    if unknown:
        raise CompileError(f"unknown backend {', '.join(sorted(unknown))}; choose from {', '.join(BACKENDS)}")
    emitted = {}
    if "wasm" in options.backends:
        emitted["wasm"] = wasm_kernel(spec)
        if options.dump_dir:
            dump(f"k{index}.wat", f";; {spec_text(spec)}\n{emitted['wasm'].wat()}")
    if "webgpu" in options.backends:
        from .webgpu.codegen import wgsl_kernel
        emitted["webgpu"] = wgsl_kernel(spec, None, options.limits)
        if options.dump_dir:
            dump(f"k{index}.wgsl", f"// {spec_text(spec)}\n{emitted['webgpu'].source}")
    return emitted


def _dumper(directory):
    if not directory:
        return lambda name, text: None
    os.makedirs(directory, exist_ok=True)

    def dump(name, text):
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)
    return dump
