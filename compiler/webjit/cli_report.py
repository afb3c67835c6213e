"""What the `webjit` command line prints: compile summaries, run reports, output summaries
and the --check comparison against onnxruntime."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from webjit.bundle import megabytes
from webjit.errors import RunError
from webjit.feeds import size_text


def print_progress(message: str, fraction: float) -> None:
    print(f"[{round(100 * fraction):3d}%] {message}", file=sys.stderr, flush=True)


def print_summary(manifest: dict, output: Path) -> None:
    memory = manifest.get("memory", {})
    weights = memory.get("weights_bytes", sum(w.get("bytes", 0) for w in manifest.get("weights", [])))
    kernels = manifest.get("kernels", [])
    forms = [v for k in kernels for b in ("wasm", "webgpu") for v in k.get(b, {}).get("variants", [])]
    variants = sum(1 for v in forms if v.get("device") != "*")
    relaxed = len(forms) - variants
    tuned = (f", tuned variants: {variants}" if variants else "") + (
        f", relaxed-SIMD forms: {relaxed} (used where the engine validates relaxed SIMD)" if relaxed else "")
    print(f"kernels: {len(kernels)}, steps: {len(manifest.get('steps', []))}{tuned}")
    for backend in manifest.get("backends", []):
        jit = [c for k in kernels for c in k.get(backend, {}).get("candidates", [])]
        if jit:
            hot = sum(1 for k in kernels if k.get(backend, {}).get("candidates"))
            print(f"JIT candidates ({backend}): {len(jit)} for {hot} hot kernels, "
                  f"{megabytes(sum(c['bytes'] for c in jit))} fetched only when tuning starts")
        elif backend == "webgpu" and manifest.get("dims") and any(k.get("wasm", {}).get("candidates") for k in kernels):
            print("JIT candidates (webgpu): none; WebGPU kernels compiled for symbolic sizes are not tuned yet "
                  "(their dispatch depends on each run's sizes)")
    storage = manifest.get("weight_storage", "fp32")
    largest = " at the largest sizes" if manifest.get("dims") else ""
    print(f"weights: {megabytes(weights)} in memory (stored {storage}), peak arena{largest}: "
          f"{megabytes(memory.get('arena_bytes', 0))}")
    for d in manifest.get("dims", []):
        print(f"symbolic dimension: {d['name']} = {d['min']}..{d['max']}")
    for name in manifest.get("bound", []):
        print(f"bound input: {name} (folded in by --const; not an input of the bundle)")
    for kind in ("inputs", "outputs"):
        for spec in manifest.get(kind, []):
            print(f"{kind[:-1]}: {spec['name']} {spec['dtype']} [{', '.join(size_text(d) for d in spec['shape'])}]")
    print(f"bundle: {output}")


def describe_array(name: str, array: np.ndarray, first: int = 6) -> str:
    values = array.astype(np.float64).ravel()
    head = ", ".join(f"{v:.6g}" for v in values[:first]) + (", ..." if values.size > first else "")
    line = f"{name}: {array.dtype} {list(array.shape)}"
    if not values.size:
        return line + " (empty)"
    return (f"{line}\n  min {values.min():.6g}  max {values.max():.6g}  "
            f"mean {values.mean():.6g}  std {values.std():.6g}\n  first [{head}]")


def describe_run(result, browser: str) -> str:
    threads = f"{result.threads} thread{'s' if result.threads != 1 else ''}"
    note = f" ({result.thread_note})" if result.thread_note else ""
    backend_note = f"\n  note: {result.backend_note}" if getattr(result, "backend_note", None) else ""
    return (f"{browser} {result.backend}, {threads}{note}: "
            f"load {result.load_ms:.1f} ms, run {result.latency_ms:.2f} ms{backend_note}{load_memory_text(result)}")


def load_memory_text(result) -> str:
    """How the weights arrived and the most memory loading took, where the runner measured it."""
    memory = getattr(result, "load_memory", None)
    if not memory or "stored_bytes" not in memory:
        return ""
    text = (f"\n  weights: {megabytes(memory['stored_bytes'])} fetched ({memory.get('storage')}), "
            f"{megabytes(memory['memory_bytes'])} in memory; the loader held at most "
            f"{megabytes(memory['peak_held_bytes'])} at once")
    if "peak_js_bytes" in memory:
        text += (f"\n  peak JS memory while loading: {megabytes(memory['peak_js_bytes'])} (heap + ArrayBuffers; "
                 f"{megabytes(memory['js_before_bytes'])} before), peak RSS {megabytes(memory['peak_rss_bytes'])}")
    elif "peak_js_heap_bytes" in memory:
        text += f"\n  peak JS heap while loading: {megabytes(memory['peak_js_heap_bytes'])} (ArrayBuffers not included)"
    return text


def save_outputs(folder: Path, outputs: dict[str, np.ndarray]) -> None:
    from webjit.runner import npy_file  # never a path built from a tensor name
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in outputs.items():
        np.save(folder / npy_file(name), array, allow_pickle=False)
    print(f"outputs saved in {folder}")


def run_onnxruntime(model: str, feeds: dict[str, np.ndarray], names: list[str]) -> dict:
    """onnxruntime's outputs (CPU) for the same feeds: the reference of --check."""
    try:
        import onnxruntime
    except ImportError:
        raise RunError("--check needs the Python package onnxruntime; pip install "
                       "onnxruntime") from None
    try:
        session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        values = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
    except Exception as err:  # noqa: BLE001 (onnxruntime raises many unrelated types)
        raise RunError(f"onnxruntime could not run {model} on the same inputs "
                       f"({first_line(err)})") from None
    return dict(zip(names, values))


def print_check(outputs: dict, reference: dict, tol: float) -> bool:
    print(f"check against onnxruntime (CPU), tolerance {tol:g} relative to max |output|:")
    passed = True
    for name, got in outputs.items():
        abs_err, rel_err = compare(got, np.asarray(reference[name]))
        ok = rel_err <= tol  # False for NaN, too
        passed &= ok
        print(f"  {name}: max abs err {abs_err:.3g}, relative {rel_err:.3g}  "
              f"{'ok' if ok else 'FAIL'}")
    print("check passed" if passed else "check FAILED")
    return passed


def compare(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(max abs error, max abs error / max finite |want|); inf when shapes differ. Elements
    equal in both (the same inf) or NaN in both agree; NaN or inf on one side only is an
    infinite error."""
    if got.shape != want.shape:
        return float("inf"), float("inf")
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    same = (got64 == want64) | (np.isnan(got64) & np.isnan(want64))
    if same.all():
        return 0.0, 0.0
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(got64 - want64))
    abs_err = float(np.max(np.nan_to_num(diff, nan=np.inf, posinf=np.inf)))
    finite = np.abs(want64[np.isfinite(want64)])
    scale = float(finite.max()) if finite.size else 0.0
    return abs_err, abs_err / scale if scale > 0 else abs_err


def first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
