"""Run webjit WGSL kernels in Node (npm `webgpu` on SwiftShader), without a browser.

Each arg gets its own GPUBuffer; each Binding binds elements [start, start+count) of its
arg, so chunked kernels run as the runtime would run them. Many kernels can share one
Node process (`run_wgsl_many`): starting the GPU device is the slow part.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HARNESS = Path(__file__).with_name("webgpu_harness.mjs")
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_LIB = "/usr/lib/chromium"
ICD = f"{CHROMIUM_LIB}/vk_swiftshader_icd.json"


def available() -> bool:
    """Whether the SwiftShader driver and the npm `webgpu` package can be found."""
    packages = [ROOT / "runtime_web" / "node_modules" / "webgpu", Path("/tmp/wgpu/node_modules/webgpu")]
    return Path(ICD).exists() and any(p.exists() for p in packages)


def _job(kernel, args: list[np.ndarray], outputs: list[int], blob: bytearray,
         max_binding_bytes: int | None) -> dict:
    for i, arr in enumerate(args):
        if arr.dtype not in (np.float32, np.int32):
            raise TypeError(f"argument {i} is {arr.dtype}; kernels take float32 or int32 arrays.")
    for b in kernel.bindings:
        if b.start + b.count > args[b.arg].size:
            raise ValueError(f"binding {b} runs past argument {b.arg} of {args[b.arg].size} elements.")
        if max_binding_bytes is not None and b.count * 4 > max_binding_bytes:
            raise ValueError(f"binding {b} is larger than {max_binding_bytes} bytes.")
    placed = []
    for arr in args:
        placed.append([len(blob), arr.nbytes])
        blob += arr.tobytes()
    return {"source": kernel.source, "entry": kernel.entry, "dispatch": list(kernel.dispatch),
            "bindings": [{"arg": b.arg, "start": b.start, "count": b.count, "write": b.write}
                         for b in kernel.bindings],
            "args": placed, "outputs": list(outputs)}


def run_wgsl_many(cases, max_binding_bytes: int | None = None) -> list[list[np.ndarray] | RuntimeError]:
    """Run (kernel, args, outputs) cases in one Node process.

    Returns per case the output arrays, or the RuntimeError that case raised (a WGSL
    compile error or a validation error), so one bad kernel does not hide the others."""
    cases = [(k, [np.ascontiguousarray(a) for a in args], list(outs)) for k, args, outs in cases]
    blob = bytearray()
    jobs = [_job(k, args, outs, blob, max_binding_bytes) for k, args, outs in cases]
    env = dict(os.environ, LD_LIBRARY_PATH=CHROMIUM_LIB, VK_ICD_FILENAMES=ICD)
    with tempfile.TemporaryDirectory(prefix="webjit-wgsl-") as tmp:
        (Path(tmp) / "jobs.json").write_text(json.dumps(jobs))
        (Path(tmp) / "in.bin").write_bytes(bytes(blob))
        proc = subprocess.run(["node", str(HARNESS), tmp], capture_output=True, text=True,
                              timeout=600, env=env, cwd=ROOT)
        if proc.returncode != 0 or not (Path(tmp) / "results.json").exists():
            raise RuntimeError(f"node failed running the WGSL harness:\n{proc.stderr[-3000:]}")
        results = json.loads((Path(tmp) / "results.json").read_text())
        raw = (Path(tmp) / "out.bin").read_bytes()
    answers = []
    for (kernel, args, outs), result in zip(cases, results):
        if not result["ok"]:
            answers.append(RuntimeError(f"WGSL kernel failed: {result['error']}\n{kernel.source}"))
            continue
        arrays = []
        for i, (offset, size) in zip(outs, result["outputs"]):
            arrays.append(np.frombuffer(raw[offset:offset + size], dtype=args[i].dtype)
                          .reshape(args[i].shape).copy())
        answers.append(arrays)
    return answers


def run_wgsl(kernel, args: list[np.ndarray], outputs: list[int],
             max_binding_bytes: int | None = None) -> list[np.ndarray]:
    """Run one kernel on `args` and return copies of the args listed in `outputs`."""
    (answer,) = run_wgsl_many([(kernel, args, outputs)], max_binding_bytes)
    if isinstance(answer, Exception):
        raise answer
    return answer


def run_batch(builders: dict) -> dict:
    """Build and run many test cases in one Node process.

    builders: name -> () -> (kernel, args, outputs, check). Returns name -> (check, got),
    where got is the output list or the exception that building or running raised;
    `finish` turns one entry into the test's verdict."""
    built, results = {}, {}
    for name, build in builders.items():
        try:
            built[name] = build()
        except Exception as err:  # a generator error belongs to that case's test only
            results[name] = (None, err)
    answers = run_wgsl_many([case[:3] for case in built.values()]) if built else []
    for (name, case), answer in zip(built.items(), answers):
        results[name] = (case[3], answer)
    return results


def finish(results: dict, name: str) -> None:
    """Raise the case's error, or run its check on the outputs."""
    check, got = results[name]
    if isinstance(got, Exception):
        raise got
    check(*got)


def wgsl(spec, config=None, limits=None):
    """The WGSL kernel of `spec` for a device with `limits` (default: WebGPU's defaults):
    with `config` resolved by its family's record, or the family's default config."""
    from webjit.targets import WebgpuTarget
    from webjit.webgpu.codegen import FAMILIES, default_kernel, wgsl_kernel
    target = WebgpuTarget(limits) if limits is not None else WebgpuTarget()
    if config is None:
        return default_kernel(spec, target)
    return wgsl_kernel(spec, FAMILIES[spec.family].resolve(config, spec, target), target)
