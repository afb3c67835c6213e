"""Run webjit WASM kernels in Node, without a browser, for the kernel tests.

Memory layout follows docs/bundle.md: a 256-byte control area, then every argument
16-byte aligned. `run(p0, ..., tid, nthreads)` is called for each tid in turn.
"""
from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HARNESS = Path(__file__).with_name("wasm_harness.mjs")
CONTROL_BYTES = 256
PAGE = 65536


def _align16(n: int) -> int:
    return (n + 15) & ~15


def _node(workdir: Path, job: dict, wasm: bytes, image: bytes) -> None:
    (workdir / "job.json").write_text(json.dumps(job))
    (workdir / "module.wasm").write_bytes(wasm)
    (workdir / "mem.bin").write_bytes(image)
    proc = subprocess.run(["node", "--experimental-wasm-relaxed-simd", str(HARNESS), str(workdir)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        message = next((l for l in lines if "Error" in l), lines[-1] if lines else "no output")
        raise RuntimeError(f"node failed running the module: {message}\n{proc.stderr}")


def layout(args: list[np.ndarray]) -> tuple[list[int], int]:
    """Byte address of each argument and the total bytes used."""
    addresses, cursor = [], CONTROL_BYTES
    for arr in args:
        addresses.append(cursor)
        cursor = _align16(cursor + max(arr.nbytes, 4))
    return addresses, cursor


def run_wasm(wasm: bytes, args: list[np.ndarray], outputs: list[int],
             nthreads: int = 1) -> list[np.ndarray]:
    """Run kernel `wasm` on `args` and return copies of the arguments listed in `outputs`."""
    args = [np.ascontiguousarray(a) for a in args]
    for i, arr in enumerate(args):
        if arr.dtype not in (np.float32, np.int32):
            raise TypeError(f"argument {i} is {arr.dtype}; kernels take float32 or int32 arrays.")
    addresses, total = layout(args)
    image = bytearray(total)
    for addr, arr in zip(addresses, args):
        image[addr:addr + arr.nbytes] = arr.tobytes()
    job = {"mode": "run", "pages": max(1, math.ceil(total / PAGE)), "args": addresses,
           "nthreads": nthreads, "outputs": [[addresses[i], args[i].nbytes] for i in outputs]}
    with tempfile.TemporaryDirectory(prefix="webjit-wasm-") as tmp:
        _node(Path(tmp), job, wasm, bytes(image))
        raw = (Path(tmp) / "out.bin").read_bytes()
    results, cursor = [], 0
    for i in outputs:
        arr = args[i]
        results.append(np.frombuffer(raw[cursor:cursor + arr.nbytes], dtype=arr.dtype)
                       .reshape(arr.shape).copy())
        cursor += arr.nbytes
    return results


def _js_number(value) -> str:
    value = float(value) if not isinstance(value, (int, np.integer)) else int(value)
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value) if isinstance(value, int) else repr(value).replace("nan", "NaN")


def run_wasm_exports(wasm: bytes, fname: str, *scalars) -> list[float]:
    """Call exported `fname` with i32/f32/f64 scalars; returns its results as Python floats."""
    job = {"mode": "call", "pages": 1, "fname": fname, "scalars": [_js_number(s) for s in scalars]}
    with tempfile.TemporaryDirectory(prefix="webjit-wasm-") as tmp:
        _node(Path(tmp), job, wasm, b"")
        values = json.loads((Path(tmp) / "result.json").read_text())
    return [float(v) for v in values]


def validate(wasm: bytes, tmp_path, relaxed: bool = False, name: str = "k.wasm") -> None:
    """Assert that `wasm-validate` accepts the module (threads, and relaxed SIMD if asked)."""
    path = tmp_path / name
    path.write_bytes(wasm)
    flags = ["--enable-threads"] + (["--enable-relaxed-simd"] if relaxed else [])
    proc = subprocess.run(["wasm-validate", *flags, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def run_both(tmp_path, module, args, output):
    """Validate, then run with 1 and 3 threads; the results must be identical."""
    wasm = module.encode()
    validate(wasm, tmp_path)
    results = [run_wasm(wasm, args, [output], nthreads=n)[0] for n in (1, 3)]
    np.testing.assert_array_equal(results[0], results[1])
    return results[0]


def default_module(spec):
    """The encoder Module of `spec` with its family's default config (for WAT or bytes)."""
    from webjit.wasm.codegen import default_kernel
    return default_kernel(spec).module
