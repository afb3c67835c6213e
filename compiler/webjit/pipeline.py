"""The compiler, top to bottom: ONNX -> graph -> passes -> kernels -> plan -> bundle."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from .bundle import Bundle, build_bundle
from .frontend import import_onnx
from .kernels import spec_text
from .lower import lower
from .passes import run_passes
from .plan import plan_buffers
from .wasm.codegen import wasm_kernel


@dataclass(frozen=True)
class Options:
    dump_dir: str | None = None  # write every stage's text here
    progress: Callable[[str, float], None] | None = None  # (message, fraction done)
    model_name: str = "model"


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
    program = lower(graph)
    dump("lowered.txt", program.to_text())

    specs: dict = {}  # identical specs share one kernel
    kernel_of_step = [specs.setdefault(step.spec, len(specs)) for step in program.steps]
    kernels = []
    for i, spec in enumerate(specs):
        if i % 8 == 0:
            report(f"generating WASM kernels ({i}/{len(specs)})", 0.4 + 0.4 * i / max(len(specs), 1))
        kernel = wasm_kernel(spec)
        kernels.append((spec, kernel))
        if options.dump_dir:
            dump(f"k{i}.wat", f";; {spec_text(spec)}\n{kernel.wat()}")

    report("planning buffers", 0.85)
    plan = plan_buffers(program)
    dump("plan.txt", plan.to_text(program))

    report("writing the bundle", 0.9)
    bundle = build_bundle(program, plan, kernels, kernel_of_step, name)
    report("done", 1.0)
    return bundle


def _dumper(directory):
    if not directory:
        return lambda name, text: None
    os.makedirs(directory, exist_ok=True)

    def dump(name, text):
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)
    return dump
