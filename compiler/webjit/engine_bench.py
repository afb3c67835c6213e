"""`webjit bench`: webjit against onnxruntime-web, side by side in one headless Chromium.

For every model, every engine runs on the same inputs in the same page (cross-origin
isolated, so both runtimes use threads), model by model: session creation, first run, a
warm-up of several seconds (Chromium's first WASM runs are 2-3x slower), then timed runs;
each engine's outputs are compared with onnxruntime (native, CPU) so a fast wrong answer
shows. onnxruntime-web fixes its thread count when its WASM starts, so the page is
reloaded for each thread count. The same session measures the rooflines (roofline.py:
WASM SIMD and the WebGPU adapter's fma) and profiles webjit's kernels against them, and
counts each engine's memory. Results (bench_report.py): JSON, markdown tables
(docs/benchmarks.md) and PNG charts.
"""
from __future__ import annotations

import base64
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .bench_report import NOT_MEASURABLE, gpu_roofline_text, row_text, write_results
from .driver import Driver
from .errors import RunError
from .models import MODEL_NAMES, example_inputs, export_model
from .roofline import (FLOPS_PER_ITERATION, GPU_FLOPS_PER_ITERATION, GPU_WORKGROUP, GPU_WORKGROUPS, roofline_module,
                       webgpu_roofline_shader)
from .runner import write_npy_folder

ENGINES = ("webjit-wasm", "webjit-webgpu", "ort-wasm", "ort-webgpu")
ROOFLINE_ITERATIONS = 4_000_000
QUIET_LOAD = 1.0  # load average (1 min) under which the machine counts as quiet
MATMUL_FAMILIES = ("matmul",)  # convolutions run as matmuls after Im2Col, but depthwise ones as their own family
# Bench models from the architecture zoo (zoo.py), by size: MobileNetV3-large, many small and
# depthwise convolutions with HardSwish; its small form is the zoo's (64x64, 10 classes).
ZOO_MODELS = {"mobilenetv3": "mobilenet_v3_large"}
BENCH_MODELS = MODEL_NAMES + tuple(ZOO_MODELS)


@dataclass
class Model:
    name: str
    onnx: Path
    bundle: Path
    inputs: Path
    reference: Path
    compile_s: float
    manifest: dict = field(default_factory=dict)


def wait_for_quiet(report, limit_s: float = 60.0) -> list[float]:
    """Waits (up to limit_s) for the 1-minute load average to drop under QUIET_LOAD; returns
    the load averages seen at the start."""
    start = time.monotonic()
    while os.getloadavg()[0] >= QUIET_LOAD and time.monotonic() - start < limit_s:
        time.sleep(5)
    load = list(os.getloadavg())
    if load[0] >= QUIET_LOAD:
        report(f"the machine is not quiet (load average {load[0]:.2f}); measuring anyway")
    return load


def model_source(name: str, size: str):
    """(ONNX path, inputs) of a bench model at a size: exported (cached) by models.py or the zoo."""
    if name in ZOO_MODELS:
        from . import zoo
        return zoo.export(ZOO_MODELS[name], size), zoo.example_inputs(ZOO_MODELS[name], size)
    if name not in MODEL_NAMES:
        raise RunError(f"unknown model {name}; choose from {', '.join(BENCH_MODELS)}")
    kwargs = {"size": size, **({"seq": 128 if size == "full" else 16} if name in ("bert", "gpt2", "minilm") else {})}
    return export_model(name, **kwargs), example_inputs(name, **kwargs)


def prepare(name: str, size: str, work: Path, report) -> Model:
    """Export (cached), reference outputs from onnxruntime, and webjit's bundle (both backends)."""
    import onnxruntime

    import webjit
    onnx_path, feeds = model_source(name, size)
    folder = work / name
    write_npy_folder(folder / "inputs", feeds)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    write_npy_folder(folder / "reference", {o.name: v for o, v in zip(session.get_outputs(), outputs)})
    try:  # served from the bench's own folder (the driver serves no other)
        os.link(onnx_path, folder / "model.onnx")
    except OSError:
        shutil.copyfile(onnx_path, folder / "model.onnx")
    report(f"{name}: compiling")
    started = time.perf_counter()
    bundle = webjit.compile(onnx_path, {k: v.shape for k, v in feeds.items()})
    compile_s = time.perf_counter() - started
    bundle.save(folder / "bundle")
    return Model(name, folder / "model.onnx", folder / "bundle", folder / "inputs", folder / "reference", compile_s,
                 bundle.manifest)


def summary(times: list[float]) -> dict:
    return {"median_ms": statistics.median(times), "min_ms": min(times),
            "spread": (max(times) - min(times)) / statistics.median(times), "runs": len(times)}


def measured(value):
    return NOT_MEASURABLE if value is None else value


def gpu_peak(memory: dict):
    """Peak GPU buffer bytes of the run (memory_probe.js), or the marker where WebGPU is missing."""
    return NOT_MEASURABLE if not memory.get("gpu") else memory["gpu"]["peak_bytes"]


def run_webjit(driver: Driver, model: Model, backend: str, threads: int, runs: int, warmup_s: float) -> dict:
    driver.call("memory_start")
    opened = driver.call("open", bundle=driver.location(model.bundle), backend=backend, threads=threads,
                         inputs=driver.location(model.inputs))
    session = opened["session"]
    try:
        if opened["backend"] != backend:
            raise RunError(f"webjit ran {model.name} on {opened['backend']}, not {backend}: {opened.get('backendNote')}")
        driver.call("runs", session=session, seconds=warmup_s, maxRuns=10 ** 6)
        times = driver.call("run", session=session, repeat=runs)["times_ms"]
        checked = driver.call("runs", session=session, seconds=600, maxRuns=1,
                              reference=driver.location(model.reference))["runs"][0]
        profile = driver.call("profile", session=session, repeat=3)
        memory = driver.call("memory")
    finally:
        driver.call("close", session=session)
    planned = model.manifest["memory"]
    return {"load_ms": opened["load_ms"], "first_ms": opened["first_ms"], **summary(times), "times_ms": times,
            "max_error": checked["difference"], "threads": opened["threads"],
            "js_heap_bytes": measured(memory["js_heap_bytes"]),
            # webjit plans its WASM memory statically: the manifest's size is what it allocates
            "wasm_memory_bytes": planned["total_bytes"] if backend == "wasm" else None,
            "gpu_buffer_peak_bytes": gpu_peak(memory) if backend == "webgpu" else None,
            "gpu_planned_bytes": planned["weights_bytes"] + planned["arena_bytes"] if backend == "webgpu" else None,
            "profile": kernel_summary(profile)}


def kernel_summary(profile: dict) -> dict:
    """MatMul kernels' GFLOP/s (time-weighted) and the share of time outside them."""
    kernels = profile["kernels"]
    matmul = [k for k in kernels if k["family"] in MATMUL_FAMILIES and k["gflops"]]
    time_in = sum(k["total_ms"] for k in matmul)
    total = sum(k["total_ms"] for k in kernels)
    weighted = sum(k["gflops"] * k["total_ms"] for k in matmul) / time_in if time_in else None
    return {"matmul_gflops": weighted, "matmul_share": time_in / total if total else None,
            "best_matmul_gflops": max((k["gflops"] for k in matmul), default=None), "timer": profile.get("timer")}


def run_ort(driver: Driver, model: Model, backend: str, threads: int, runs: int, warmup_s: float) -> dict:
    driver.call("memory_start")
    opened = driver.call("ort_open", model=driver.location(model.onnx), inputs=driver.location(model.inputs),
                         backend=backend, threads=threads)
    try:
        result = driver.call("ort_runs", session=opened["session"], seconds=warmup_s, runs=runs,
                             reference=driver.location(model.reference))
        memory = driver.call("memory")
    finally:
        driver.call("ort_close", session=opened["session"])
    return {"load_ms": opened["load_ms"], "first_ms": opened["first_ms"], **summary(result["times_ms"]),
            "times_ms": result["times_ms"], "max_error": result["difference"], "threads": threads,
            "js_heap_bytes": measured(memory["js_heap_bytes"]),
            # its WASM heap is shared by the page's sessions and never shrinks: the high-water mark so far
            "wasm_memory_bytes": measured(memory["ort_wasm_bytes"]),
            "gpu_buffer_peak_bytes": gpu_peak(memory) if backend == "webgpu" else None}


def gpu_roofline(driver: Driver) -> dict:
    """The WebGPU FMA peak of the page's adapter (roofline.py's shader), or {"missing": why}."""
    result = driver.call("gpu_roofline", shader=webgpu_roofline_shader(), workgroups=GPU_WORKGROUPS,
                         workgroup=GPU_WORKGROUP, flops_per_iteration=GPU_FLOPS_PER_ITERATION, reps=5)
    if "missing" not in result:
        adapter = result["adapter"]
        result["software"] = "swiftshader" in " ".join(str(v) for v in adapter.values()).lower()
    return result


def roofline(driver: Driver, threads_list) -> list[dict]:
    rows = []
    for fma in (False, True):
        module = base64.b64encode(roofline_module(fma)).decode()
        for threads in threads_list:
            result = driver.call("roofline", module=module, threads=threads, iterations=ROOFLINE_ITERATIONS,
                                 flops_per_iteration=FLOPS_PER_ITERATION)
            rows.append({"kind": "relaxed fma" if fma else "mul+add", "threads": threads, "gflops": result["gflops"]})
    return rows


def bench(models=BENCH_MODELS, engines=ENGINES, threads_list=(1, 2), runs: int = 20, warmup_s: float = 5.0,
          size: str = "full", out_dir=None, report: Callable[[str], None] = print) -> dict:
    """Runs the comparison; returns the results (and writes them under out_dir when given)."""
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise RunError(f"unknown engine {', '.join(sorted(unknown))}; choose from {', '.join(ENGINES)}")
    wants_gpu = any(e.endswith("webgpu") for e in engines)
    with tempfile.TemporaryDirectory(prefix="webjit-bench-") as temp:
        work = Path(temp)
        prepared = [prepare(name, size, work, report) for name in models]
        load_before = wait_for_quiet(report)
        results = {"date": time.strftime("%Y-%m-%d %H:%M"), "size": size, "runs": runs, "warmup_s": warmup_s,
                   "load_average_before": load_before, "machine": machine(), "rows": [],
                   "compile_s": {m.name: round(m.compile_s, 2) for m in prepared}}
        with Driver("chromium", "webgpu" if wants_gpu else "wasm", [work], timeout_s=3600,
                    page="bench/bench.html") as driver:
            results["roofline"] = roofline(driver, threads_list)
            report("roofline: " + ", ".join(f"{r['kind']} {r['threads']}t {r['gflops']:.1f} GFLOP/s"
                                            for r in results["roofline"]))
            results["webgpu_roofline"] = (gpu_roofline(driver) if wants_gpu else
                                          {"missing": "no WebGPU engine was asked for (--engines)"})
            report(gpu_roofline_text(results["webgpu_roofline"]))
            for t_index, threads in enumerate(threads_list):
                driver.reload()
                for model in prepared:
                    for engine in engines:
                        runtime, backend = engine.split("-")
                        if backend == "webgpu" and t_index:
                            continue  # one GPU measurement per model
                        run = run_webjit if runtime == "webjit" else run_ort
                        try:
                            row = run(driver, model, backend, threads, runs, warmup_s)
                        except RunError as err:
                            row = {"error": str(err)}
                        row.update(model=model.name, engine=engine, threads=threads if backend == "wasm" else None)
                        results["rows"].append(row)
                        report(row_text(row))
            results["load_average_after"] = list(os.getloadavg())
            if out_dir:
                write_results(results, Path(out_dir), driver)
    return results


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"
