"""Bundle bytes against the ONNX file, per weight storage, with each bundle's error against
onnxruntime and its load time: the table of docs/bundle.md.

    python benchmarks/bundle_sizes.py                                # the five models, all storages
    python benchmarks/bundle_sizes.py --model minilm --weights fp16 -o /tmp/sizes.json

Storages: fp32, fp16, int8 (`compile --weights`, deflated), and fp32-raw (`--no-deflate`).
Each model is compiled for both backends (as `webjit compile` does by default), run once on
WASM in Node (2 threads) on the models' example inputs, and compared with onnxruntime
(CPU) on the same inputs: the error is max |webjit - onnxruntime| / max |onnxruntime| over
the outputs. Load time is the runtime's load() of the bundle from disk (the best of
--loads), which includes decoding stored weights.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import webjit
from webjit.models import example_inputs, export_model
from webjit.runner import run_bundle

MODELS = {  # name -> export arguments
    "minilm": dict(seq=128), "bert": dict(seq=128), "gpt2": dict(seq=128), "vit": dict(), "resnet50": dict(),
}
STORAGES = ("fp32", "fp32-raw", "fp16", "int8")  # fp32-raw: --weights fp32 --no-deflate


def onnxruntime_outputs(path: Path, feeds: dict) -> dict[str, np.ndarray]:
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def relative_error(got: dict, want: dict) -> float:
    worst = 0.0
    for name, ref in want.items():
        ref = np.asarray(ref, np.float64)
        scale = max(float(np.abs(ref).max()), 1e-30)
        worst = max(worst, float(np.abs(np.asarray(got[name], np.float64) - ref).max()) / scale)
    return worst


def measure(name: str, storage: str, loads: int, folder: Path) -> dict:
    path = export_model(name, **MODELS[name])
    inputs = example_inputs(name, **MODELS[name])
    shapes = {k: v.shape for k, v in inputs.items()}
    started = time.perf_counter()
    options = webjit.Options(weights=storage.removesuffix("-raw"), deflate=not storage.endswith("-raw"))
    bundle = webjit.compile(path, shapes, options)
    compile_s = time.perf_counter() - started
    target = folder / f"{name}-{storage}"
    bundle.save(target)
    want = onnxruntime_outputs(path, inputs)
    best_load, error = float("inf"), None
    for _ in range(loads):
        result = run_bundle(target, inputs, backend="wasm", browser="node", threads=2)
        best_load = min(best_load, result.load_ms)
        error = relative_error(result.outputs, want)
    sizes = bundle.sizes()
    shutil.rmtree(target)
    return {"model": name, "storage": storage, "onnx_bytes": path.stat().st_size,
            "bundle_bytes": sizes["weights"] + sizes["kernels"] + sizes["manifest"], **sizes,
            "memory_weights_bytes": bundle.manifest["memory"]["weights_bytes"],
            "max_relative_error": error, "load_ms": round(best_load, 1), "compile_s": round(compile_s, 1)}


def table(rows: list[dict]) -> str:
    lines = ["| model | ONNX file | storage | bundle | bundle / ONNX | max relative error | load (Node, WASM) |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['onnx_bytes'] / 2**20:.1f} MiB | {r['storage']} | "
                     f"{r['bundle_bytes'] / 2**20:.1f} MiB | {r['bundle_bytes'] / r['onnx_bytes']:.3f} | "
                     f"{r['max_relative_error']:.1e} | {r['load_ms'] / 1000:.2f} s |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", choices=tuple(MODELS), help="(repeatable; default all five)")
    parser.add_argument("--weights", action="append", choices=STORAGES, help="(repeatable; default all)")
    parser.add_argument("--loads", type=int, default=2, help="loads per bundle; the best is reported")
    parser.add_argument("-o", "--output", default="benchmarks/results/bundle-sizes.json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="webjit-sizes-") as folder:
        for name in args.model or MODELS:
            for storage in args.weights or STORAGES:
                rows.append(measure(name, storage, args.loads, Path(folder)))
                r = rows[-1]
                print(f"{name} {storage}: {r['bundle_bytes'] / 2**20:.1f} MiB for a {r['onnx_bytes'] / 2**20:.1f} MiB "
                      f"ONNX file, error {r['max_relative_error']:.1e}, load {r['load_ms']:.0f} ms", flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(rows, indent=1) + "\n")
    Path(args.output).with_suffix(".md").write_text(table(rows))
    print(table(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
