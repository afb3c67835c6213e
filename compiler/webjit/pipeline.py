"""The compiler, top to bottom: ONNX -> graph -> passes -> kernels -> schedules -> code
(-> JIT candidates) -> plan -> stored weights -> bundle."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Callable

from .attention import attention_text, find_attention
from .bundle import SHARD_BYTES, Bundle, EmittedKernel, build_bundle, size_text
from .errors import CompileError
from .frontend import import_onnx
from .jit import hot_kernels, jit_candidates, jit_text
from .kernels import spec_text
from .lower import lower
from .passes import run_passes
from .plan import check_plan, plan_buffers
from .schedule import Kernel, Schedule, choose_schedules, distinct_kernels, schedule_text
from .schedule_db import ScheduleDB
from .shapes import PYTHON, Words
from .symbolic import graph_dims
from .targets import Targets, WebgpuTarget
from .wasm.codegen import wasm_kernel
from .webgpu.codegen import wgsl_kernel
from .webgpu.kernel import Limits
from .weights import store_weights

BACKENDS = ("wasm", "webgpu")


@dataclass(frozen=True)
class Options:
    dump_dir: str | None = None  # write every stage's text here
    progress: Callable[[str, float], None] | None = None  # (message, fraction done)
    model_name: str = "model"
    backends: tuple[str, ...] = BACKENDS  # kernels to emit; the runtime picks among them
    targets: Targets = field(default_factory=Targets)  # what the kernels are generated for
    schedules: ScheduleDB = field(default_factory=ScheduleDB)  # tuned configs -> per-device variants
    jit: bool = False  # carry candidates of the hot kernels for the runtime's JIT (jit.py)
    weights: str = "fp32"  # how weights are stored in the bundle: fp32, fp16 or int8 (weights.py)
    deflate: bool = True  # large weights deflated losslessly (smaller download, a little more load time)
    shard_bytes: int = SHARD_BYTES  # the largest weight file of the bundle
    constants: dict = field(default_factory=dict)  # input name -> value folded into the model (--const)
    words: Words = PYTHON  # how shape errors name the shape arguments (the CLI's flags or compile()'s keywords)
    # attention chains as one kernel (attention.py): less memory, but slower than the MatMul and
    # Softmax kernels at sequence 128 on WASM (docs/performance.md), so asked for, not the default
    fuse_attention: bool = False

    @property
    def limits(self) -> Limits:
        """The WebGPU device limits the WGSL kernels respect."""
        return self.targets.webgpu.limits

    def with_limits(self, limits: Limits) -> "Options":
        return replace(self, targets=replace(self.targets, webgpu=WebgpuTarget(limits)))


def compile(model, shapes: dict[str, tuple[int, ...]] | None = None, options: Options | None = None,
            dims: dict[str, int] | None = None) -> Bundle:
    """Compile an ONNX model (path, bytes or ModelProto) into a Bundle (with Options() when `options`
    is None). Inputs with dynamic dimensions get their static shape from `shapes` ({input:
    (1, 128)}) or, by dimension name, from `dims` ({"sequence": 128} for every input that
    declares that dimension)."""
    options = Options() if options is None else options
    report = options.progress or (lambda message, fraction: None)
    dump = _Dumper(options.dump_dir)
    unknown = set(options.backends) - set(BACKENDS)
    if unknown or not options.backends:
        raise CompileError(f"unknown backend {', '.join(sorted(unknown)) or '(none)'}; choose from {', '.join(BACKENDS)}")
    name = options.model_name
    if name == "model" and isinstance(model, (str, os.PathLike)):
        name = os.path.splitext(os.path.basename(os.fspath(model)))[0]

    report("importing the ONNX model", 0.0)
    graph = import_onnx(model, shapes, options.constants, dims, options.words)
    dump("graph.txt", graph.to_text)

    report("running graph passes", 0.2)
    graph = run_passes(graph)
    dump("passes.txt", graph.to_text)

    report("lowering to kernels", 0.3)
    # Symbolic sizes: attention is fused, since the kernels of its unfused chain take symbolic
    # sizes only in their rows.
    fuse = options.fuse_attention or bool(graph_dims(graph))
    attention = find_attention(graph) if fuse else ()
    dump("attention.txt", lambda: attention_text(attention) if fuse else "attention fusion not asked for (--fuse-attention)\n")
    program = lower(graph, options.limits.max_binding_bytes if "webgpu" in options.backends else None,
                    options.targets.wasm.row_pad if "wasm" in options.backends else 0, attention)
    dump("lowered.txt", program.to_text)

    report("choosing schedules", 0.35)
    kernels = distinct_kernels(program)
    schedules = choose_schedules(kernels, options.backends, options.targets, options.schedules)
    dump("schedule.txt", lambda: schedule_text(kernels, schedules))

    emitted = []
    for i, (kernel, schedule) in enumerate(zip(kernels, schedules)):
        if i % 8 == 0:
            report(f"generating kernels ({i}/{len(kernels)})", 0.4 + 0.4 * i / max(len(kernels), 1))
        emitted.append(emit_kernel(kernel, schedule, i, dump))

    candidates = {}
    if options.jit:
        report("generating the JIT's candidates", 0.8)
        candidates = choose_candidates(kernels, emitted, options.targets)
        dump("jit.txt", lambda: jit_text(kernels, candidates))

    report("planning buffers", 0.85)
    plan = plan_buffers(program)
    check_plan(program, plan)

    report("storing weights", 0.88)
    store = store_weights(program, options.weights, options.deflate)
    dump("weights.txt", lambda: store.to_text(program))

    report("writing the bundle", 0.9)
    bundle = build_bundle(program, plan, store, emitted, name, options.targets, options.backends, candidates,
                          options.shard_bytes, tuple(options.constants))
    dump("plan.txt", lambda: plan.to_text(program) + size_text(bundle.sizes(), model_bytes(model)))
    report("done", 1.0)
    return bundle


def model_bytes(model) -> int:
    """The size of the ONNX model compiled: its file, its bytes, or its serialized form."""
    if isinstance(model, (str, os.PathLike)):
        return os.path.getsize(model)
    return len(model) if isinstance(model, (bytes, bytearray, memoryview)) else model.ByteSize()


def emit_kernel(kernel: Kernel, schedules: dict[str, Schedule], index: int, dump) -> EmittedKernel:
    """The code of one kernel on every backend of `schedules`: the default and each variant."""
    code: dict[str, list] = {}
    for backend, schedule in schedules.items():
        emit = wasm_kernel if backend == "wasm" else wgsl_kernel
        code[backend] = [(choice, emit(kernel.spec, choice.config, choice.target))
                         for choice in (schedule.default, *schedule.variants)]
        for j, (choice, emitted) in enumerate(code[backend]):
            stem = f"k{index}" if j == 0 else f"k{index}.v{j}"
            if not dump.enabled:
                continue
            if backend == "wasm":
                dump(f"{stem}.wat", f";; {spec_text(kernel.spec)}\n{emitted.wat()}")
            else:
                dump(f"{stem}.wgsl", f"// {spec_text(kernel.spec)}\n{emitted.source}")
    return EmittedKernel(kernel, schedules, code)


def choose_candidates(kernels: list[Kernel], emitted: list[EmittedKernel], targets: Targets) -> dict:
    """Per backend, per hot kernel: the candidates the runtime's JIT may measure."""
    chosen = {}
    for backend in emitted[0].code if emitted else ():
        chosen[backend] = {}
        for i in hot_kernels(kernels, backend):
            schedule = emitted[i].schedules[backend]
            forms = [schedule.family.config_to_json(c.config) for c in (schedule.default, *schedule.variants)]
            chosen[backend][i] = jit_candidates(kernels[i].spec, backend, targets.of(backend), forms)
    return chosen


class _Dumper:
    """dump(name, text) writes DIR/name when dumping was asked for, else does nothing; `text`
    may be a function making it, called only then (a stage's text costs time to build)."""

    def __init__(self, directory: str | None):
        self.directory, self.enabled = directory, bool(directory)
        if directory:
            os.makedirs(directory, exist_ok=True)

    def __call__(self, name: str, text) -> None:
        if self.enabled:
            with open(os.path.join(self.directory, name), "w") as f:
                f.write(text() if callable(text) else text)
