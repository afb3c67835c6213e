"""`webjit bench browser-compile`: the compiler in the page against the compiler on the host,
in one run. Per model, the same request (the model's example input shapes, kernels for both
backends) compiled by browser.compile_for_page in four places:

  CPython with numpy (the host compiler as users run it),
  CPython with numpy and onnx made unimportable (purenp and onnx_reader: the page's code path),
  Pyodide in headless Chromium (compileInBrowser's worker, driven through the driver page),
  Pyodide in Node;

with each one's stage times, the kernel generation time per kernel form, Pyodide's start and
the wheel's install (once per browser), and whether all four bundles are the same bytes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .bench_report import write_json_and_table

PLACES = ("cpython", "cpython_pure", "chromium", "node")
# Python code that makes the packages the page lacks unimportable: what runs after it is on
# the page's code path (nplike picks purenp, the frontend reads with onnx_reader).
BLOCKED = ("numpy", "onnx", "google.protobuf", "onnxruntime", "torch")
BLOCKING_PRELUDE = r"""
import importlib.abc, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if any(name == b or name.startswith(b + ".") for b in %r):
            raise ImportError(f"{name} is not importable on the browser path")
sys.meta_path.insert(0, _Blocked())
""" % (BLOCKED,)
PURE_SCRIPT = BLOCKING_PRELUDE + r"""
import hashlib, json
from webjit.browser import compile_for_page
out = []
for path, request in json.loads(sys.argv[1]):
    answer = compile_for_page(open(path, "rb").read(), json.dumps(request))
    bundle = answer.pop("bundle", b"")
    out.append({**answer, "bundle_sha256": hashlib.sha256(bundle).hexdigest(), "bundle_bytes": len(bundle)})
print(json.dumps(out))
"""


def run_blocked(script: str, *args: str, timeout: float = 900, cwd=None) -> subprocess.CompletedProcess:
    """`script` (which starts with BLOCKING_PRELUDE) run by this Python with `args`."""
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def bench_browser_compile(models: tuple[str, ...], size: str, report) -> dict:
    """Every model compiled in each place; the results as written to browser-compile-SIZE.json."""
    import hashlib

    from .browser import compile_for_page
    from .driver import Driver
    from .engine_bench import machine, model_source, wait_for_quiet
    from .page_wheel import write_page_wheel
    from .runner import pyodide_dir

    cases = []
    for name in models:
        onnx, inputs = model_source(name, size)
        cases.append((name, Path(onnx), {"shapes": {k: list(v.shape) for k, v in inputs.items()},
                                         "backends": ["wasm", "webgpu"]}))
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "size": size, "machine": machine(),
               "load_average_before": wait_for_quiet(report), "rows": [], "browsers": {}}
    rows = {name: {"model": name} for name, _, _ in cases}
    for name, onnx, request in cases:
        started = time.perf_counter()
        answer = compile_for_page(onnx.read_bytes(), json.dumps(request))
        bundle = answer.pop("bundle")
        rows[name]["cpython"] = {**answer, "wall_ms": 1000 * (time.perf_counter() - started),
                                 "bundle_sha256": hashlib.sha256(bundle).hexdigest(), "bundle_bytes": len(bundle)}
        report(f"{name}: CPython {answer['seconds']:.2f} s")
    done = run_blocked(PURE_SCRIPT, json.dumps([[str(o), r] for _, o, r in cases]), timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the numpy-free compile failed: {done.stderr.strip().splitlines()[-1:]}")
    for (name, _, _), answer in zip(cases, json.loads(done.stdout.strip().splitlines()[-1])):
        rows[name]["cpython_pure"] = answer
        report(f"{name}: CPython without numpy {answer['seconds']:.2f} s")
    wheel_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"webjit-bench-wheel-{os.getpid()}"
    wheel = write_page_wheel(wheel_dir)
    pyodide = pyodide_dir()
    for browser in ("chromium", "node"):
        folders = sorted({str(onnx.parent) for _, onnx, _ in cases})
        with Driver(browser, "wasm", [Path(f) for f in folders], timeout_s=1800, page="page/driver.html") as driver:
            urls = ({} if browser == "chromium" else
                    {"pyodideURL": (pyodide.as_uri() + "/") if pyodide else None, "wheelURL": wheel.as_uri()})
            for name, onnx, request in cases:
                answer = driver.call("compile", model=driver.location(onnx), request=_options(request), **urls)
                rows[name][browser] = answer
                report(f"{name}: Pyodide in {browser} {answer['seconds']:.2f} s (start {answer['startMs'] / 1000:.1f} s)")
            first = rows[cases[0][0]][browser]
            results["browsers"][browser] = {"python": first["python"], "start_ms": first["startMs"],
                                            "install_ms": first["installMs"]}
    results["rows"] = [rows[name] for name, _, _ in cases]
    results["load_average_after"] = list(os.getloadavg())
    return results


def _options(request: dict) -> dict:
    """compileBundle's options for a compile_for_page request."""
    return {"shapes": request["shapes"], "backend": "auto" if len(request["backends"]) > 1 else request["backends"][0]}


def kernel_ms(answer: dict) -> float:
    """Milliseconds of kernel generation per kernel form."""
    return 1000 * dict(answer["stages"]).get("generating kernels", 0.0) / max(answer["kernels"], 1)


def browser_compile_table(results: dict) -> str:
    lines = ["| model | kernels | CPython (s) | CPython, no numpy (s) | Chromium Pyodide (s) | Node Pyodide (s) | "
             "Chromium / CPython | per kernel, CPython (ms) | per kernel, Chromium (ms) | same bundle |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in results["rows"]:
        same = len({row[p]["bundle_sha256"] for p in PLACES}) == 1
        lines.append(f"| {row['model']} | {row['cpython']['kernels']} | " +
                     " | ".join(f"{row[p]['seconds']:.2f}" for p in PLACES) +
                     f" | {row['chromium']['seconds'] / row['cpython']['seconds']:.1f}x | {kernel_ms(row['cpython']):.2f} | "
                     f"{kernel_ms(row['chromium']):.2f} | {'yes' if same else 'NO'} |")
    starts = "; ".join(f"{b}: Pyodide (Python {v['python']}) starts in {v['start_ms'] / 1000:.1f} s, the wheel installs "
                       f"in {v['install_ms'] / 1000:.2f} s" for b, v in results["browsers"].items())
    stage_lines = ["", "Stages in Chromium (s):", "", "| model | " + " | ".join(s for s, _ in results["rows"][0]["chromium"]["stages"])
                   + " |", "|---|" + "---:|" * len(results["rows"][0]["chromium"]["stages"])]
    for row in results["rows"]:
        stage_lines.append(f"| {row['model']} | " + " | ".join(f"{t:.3f}" for _, t in row["chromium"]["stages"]) + " |")
    return "\n".join(lines) + f"\n\n{starts}\n" + "\n".join(stage_lines) + "\n"


def write_browser_compile_results(results: dict, out: Path) -> Path:
    stem = out / f"browser-compile-{results['size']}"
    write_json_and_table(results, stem, f"webjit bench browser-compile --size {results['size']}",
                         "each model compiled once per place, in sequence", browser_compile_table(results))
    return stem
