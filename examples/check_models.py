"""Compile the test models, run them on a backend, and check them against onnxruntime.

    python examples/check_models.py --backend webgpu --browser chromium          # the five full-size models
    python examples/check_models.py --models bert,vit --size small --browser node

Prints one row per model (and a final verdict); exits 1 when any model fails.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import webjit
from webjit.errors import WebjitError
from webjit.models import MODEL_NAMES, example_inputs, export_model
from webjit.runner import run_bundle


def check(name, args) -> dict:
    seq = args.seq if args.size == "full" else 16
    path = export_model(name, exporter=args.exporter, opset=args.opset, size=args.size, seq=seq)
    feeds = example_inputs(name, size=args.size, seq=seq)
    started = time.perf_counter()
    bundle = webjit.compile(path, {k: v.shape for k, v in feeds.items()})
    compile_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp) / "bundle")
        result = run_bundle(Path(tmp) / "bundle", feeds, backend=args.backend, browser=args.browser,
                            repeat=args.repeat, timeout_s=args.timeout)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    error = max(float(np.abs(result.outputs[k].astype(np.float64) - v).max() / max(np.abs(v).max(), 1e-30))
                for k, v in expected.items())
    return {"model": name, "backend": result.backend, "threads": result.threads, "compile_s": compile_s,
            "load_ms": result.load_ms, "run_ms": result.latency_ms, "error": error, "ok": error <= args.tol}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--size", choices=("full", "small"), default="full")
    parser.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy")
    parser.add_argument("--opset", type=int, choices=(17, 18), default=17)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--backend", choices=("wasm", "webgpu", "auto"), default="wasm")
    parser.add_argument("--browser", choices=("chromium", "node"), default="chromium")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    print(f"{args.size} models, {args.exporter} exporter, opset {args.opset}, {args.backend} in {args.browser}")
    print(f"{'model':10} {'backend':8} {'thr':>3} {'compile s':>9} {'load ms':>9} {'run ms':>10} {'rel error':>10}")
    failed = 0
    for name in args.models.split(","):
        try:
            row = check(name, args)
        except WebjitError as exc:
            print(f"{name:10} error: {exc}")
            failed += 1
            continue
        failed += not row["ok"]
        print(f"{row['model']:10} {row['backend']:8} {row['threads']:>3} {row['compile_s']:9.1f} {row['load_ms']:9.0f} "
              f"{row['run_ms']:10.1f} {row['error']:10.2e} {'ok' if row['ok'] else 'FAIL'}", flush=True)
    print("all within tolerance" if not failed else f"{failed} model(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
