"""`webjit bench compile`: what compiling a model costs webjit, against apache-tvm building
the same ONNX model for the webgpu target, in the same run.

Per model, webjit's side (always measured):
  compile per backend (webgpu only, wasm only): the whole webjit.compile, split by its stages
    (the pipeline's progress messages): import, passes, lowering, schedules, kernel
    generation (every kernel of the bundle, its variants included), plan, weights, bundle;
  tuning candidates: every candidate config of every tunable kernel (family.candidates, what
    `webjit tune` enumerates) generated, not measured, per backend.
TVM's side (when apache-tvm imports; the `bench-tvm` extra): in a child process (a crash or a
hang stays there), `tvm.relax.frontend.onnx.from_onnx` then `tvm.compile` with the default
pipeline for Target({"kind": "webgpu", "host": wasm32 LLVM}); its import and build timed
apart. Where it fails, the one-line reason stands in place of its numbers.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

TVM_VERSION = "0.27.0.post1"
TVM_INSTALL = f"pip install 'webjit[bench-tvm]' (or pip install apache-tvm=={TVM_VERSION})"
TVM_TIMEOUT_S = 1800.0
TVM_TARGET = {"kind": "webgpu", "host": {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"}}
# pipeline.compile's progress messages, in order, and the stage each one starts
STAGES = (("importing", "import"), ("running graph passes", "passes"), ("lowering", "lowering"),
          ("choosing schedules", "schedules"), ("generating kernels", "kernels"),
          ("generating the JIT", "jit"), ("planning buffers", "plan"), ("storing weights", "weights"),
          ("writing the bundle", "bundle"))


def tvm_available() -> bool:
    return importlib.util.find_spec("tvm") is not None


def webjit_compile(onnx_path: Path, shapes: dict, backend: str) -> dict:
    """webjit.compile for one backend: total seconds, seconds per stage, and the kernel count."""
    from .pipeline import Options, compile as compile_model
    marks: list[tuple[str, float]] = []

    def progress(message: str, fraction: float) -> None:
        stage = next((name for prefix, name in STAGES if message.startswith(prefix)), None)
        if stage and (not marks or marks[-1][0] != stage):
            marks.append((stage, time.perf_counter()))

    started = time.perf_counter()
    bundle = compile_model(onnx_path, shapes, Options(backends=(backend,), progress=progress))
    total = time.perf_counter() - started
    ends = [t for _, t in marks[1:]] + [started + total]
    stages = {name: round(end - begin, 4) for (name, begin), end in zip(marks, ends)}
    kernels = bundle.manifest["kernels"]
    return {"total_s": round(total, 4), "stages_s": stages, "kernels_s": stages.get("kernels", 0.0),
            "kernels": len(kernels)}


def candidate_generation(onnx_path: Path, shapes: dict, backend: str) -> dict:
    """Generates (does not measure) every candidate of every tunable kernel of the model."""
    from .frontend import import_onnx
    from .lower import lower
    from .passes import run_passes
    from .pipeline import Options
    from .schedule import distinct_kernels, families
    from .tune import candidate_code

    options = Options(backends=(backend,))
    program = lower(run_passes(import_onnx(onnx_path, shapes)),
                    options.limits.max_binding_bytes if backend == "webgpu" else None,
                    options.targets.wasm.row_pad if backend == "wasm" else 0)
    target = options.targets.of(backend)
    tunable = count = failed = 0
    seconds = 0.0
    for kernel in distinct_kernels(program):
        family = families(backend)[kernel.spec.family]
        if len(family.space) <= 1:
            continue
        tunable += 1
        began = time.perf_counter()
        for config in family.candidates(kernel.spec, target):
            count += 1
            try:
                candidate_code(kernel.spec, backend, config, target)
            except Exception:  # noqa: BLE001 (a candidate that does not generate is counted, as tune does)
                failed += 1
        seconds += time.perf_counter() - began
    return {"seconds": round(seconds, 4), "candidates": count, "tunable_kernels": tunable, "failed": failed}


def tvm_build(onnx_path: Path, shapes: dict, timeout_s: float = TVM_TIMEOUT_S) -> dict:
    """TVM's webgpu build of the model in a child process: {import_s, build_s, total_s, version}
    or {error: one line}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    try:
        done = subprocess.run([sys.executable, "-m", "webjit.compile_bench", str(onnx_path),
                               json.dumps({k: list(v) for k, v in shapes.items()})], capture_output=True,
                              text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"TVM's build did not finish within {timeout_s:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    tail = [line for line in done.stderr.splitlines() if line.strip()]
    return {"error": f"the TVM process exited with status {done.returncode}: {tail[-1] if tail else 'no output'}"}


def _one_line(err: BaseException) -> str:
    text = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    text = f"{type(err).__name__}: {text}" if not text.startswith(type(err).__name__) else text
    return text if len(text) <= 240 else text[:237] + "..."


def _tvm_child(onnx_path: str, shapes: dict) -> dict:
    """Runs in the child: import and build timed apart."""
    import onnx
    import tvm
    from tvm.relax.frontend.onnx import from_onnx

    model = onnx.load(onnx_path)
    result = {"version": tvm.__version__}
    started = time.perf_counter()
    try:
        module = from_onnx(model, shape_dict=shapes, keep_params_in_input=False)
    except Exception as err:  # noqa: BLE001 (TVM's reason, reported as one line)
        return {**result, "error": f"import (relax.frontend.onnx.from_onnx) failed: {_one_line(err)}"}
    result["import_s"] = round(time.perf_counter() - started, 4)
    began = time.perf_counter()
    try:
        tvm.compile(module, target=tvm.target.Target(TVM_TARGET))
    except Exception as err:  # noqa: BLE001
        return {**result, "error": f"webgpu build (tvm.compile, default pipeline) failed: {_one_line(err)}"}
    result["build_s"] = round(time.perf_counter() - began, 4)
    result["total_s"] = round(time.perf_counter() - started, 4)
    return result


def compile_cost(models, size: str = "small", with_tvm: bool | None = None, tvm_timeout_s: float = TVM_TIMEOUT_S,
                 report: Callable[[str], None] = print) -> dict:
    """Per model: webjit's compile and candidate generation per backend, and TVM's webgpu build."""
    from .engine_bench import machine, model_source

    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "size": size, "machine": machine(),
               "load_average_before": list(os.getloadavg()), "tvm": None, "models": []}
    if with_tvm is False:
        results["tvm_note"] = "TVM's build was not run (--no-tvm)"
    elif not tvm_available():
        with_tvm = False
        results["tvm_note"] = f"apache-tvm is not installed, so only webjit was measured: {TVM_INSTALL} to compare"
    else:
        with_tvm = True
    if not with_tvm:
        report(results["tvm_note"])
    for name in models:
        onnx_path, feeds = model_source(name, size)
        shapes = {k: tuple(v.shape) for k, v in feeds.items()}
        row = {"model": name}
        for backend in ("webgpu", "wasm"):
            report(f"{name}: webjit compile for {backend}")
            row[f"webjit_{backend}"] = webjit_compile(onnx_path, shapes, backend)
            row[f"candidates_{backend}"] = candidate_generation(onnx_path, shapes, backend)
        if with_tvm:
            report(f"{name}: TVM webgpu build")
            row["tvm"] = tvm_build(onnx_path, shapes, tvm_timeout_s)
            results["tvm"] = row["tvm"].get("version", results["tvm"])
        results["models"].append(row)
        report(row_text(row))
    results["load_average_after"] = list(os.getloadavg())
    return results


def row_text(row: dict) -> str:
    gpu, cand = row["webjit_webgpu"], row["candidates_webgpu"]
    text = (f"{row['model']}: webjit webgpu kernels {gpu['kernels_s']:.3f} s ({gpu['kernels']} kernels, compile "
            f"{gpu['total_s']:.2f} s), {cand['candidates']} candidates {cand['seconds']:.2f} s")
    tvm = row.get("tvm")
    if tvm is None:
        return text
    if "error" in tvm:
        return text + f"; TVM: {tvm['error']}"
    return text + f"; TVM build {tvm['build_s']:.2f} s (+ import {tvm['import_s']:.2f} s): " \
                  f"{tvm['build_s'] / max(gpu['kernels_s'], 1e-9):.0f}x webjit's kernel generation"


def compile_table(results: dict) -> str:
    lines = ["| model | backend | webjit kernels (s) | kernels | webjit compile (s) | candidates (s) | candidates | "
             "TVM webgpu build (s) | TVM / webjit kernels | TVM / webjit compile |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in results["models"]:
        tvm = row.get("tvm")
        for backend in ("webgpu", "wasm"):
            ours, cand = row[f"webjit_{backend}"], row[f"candidates_{backend}"]
            build = ratio = whole = "-"
            if backend == "webgpu" and tvm is not None:
                if "error" in tvm:
                    build = "failed (below)"
                else:
                    build = f"{tvm['build_s']:.2f}"
                    ratio = f"{tvm['build_s'] / max(ours['kernels_s'], 1e-9):.0f}x"
                    whole = f"{tvm['total_s'] / max(ours['total_s'], 1e-9):.0f}x"
            elif backend == "webgpu":
                build = "not run"
            lines.append(f"| {row['model']} | {backend} | {ours['kernels_s']:.3f} | {ours['kernels']} | "
                         f"{ours['total_s']:.2f} | {cand['seconds']:.2f} | {cand['candidates']} | {build} | "
                         f"{ratio} | {whole} |")
    notes = [f"- {row['model']}: TVM {row['tvm']['error']}" for row in results["models"]
             if row.get("tvm") and "error" in row["tvm"]]
    if results.get("tvm_note"):
        notes.append(f"- {results['tvm_note']}")
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def write_compile_results(results: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"compile-{results['size']}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    tvm = f"apache-tvm {results['tvm']}" if results.get("tvm") else "apache-tvm not run"
    stem.with_suffix(".md").write_text(
        f"# webjit bench compile, {results['date']}\n\nmachine: {results['machine']}; {tvm}; load average before "
        f"{results['load_average_before'][0]:.2f}, after {results['load_average_after'][0]:.2f}\n\n"
        + compile_table(results))
    return stem


if __name__ == "__main__":  # the TVM child process of tvm_build
    print(json.dumps(_tvm_child(sys.argv[1], json.loads(sys.argv[2]))), flush=True)
