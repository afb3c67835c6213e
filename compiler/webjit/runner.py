"""Runs a bundle with the JS runtime, in Node or in headless Chromium, from Python.

Node runs `runtime_web/bin/webjit-run-node.mjs` on .npy files. Chromium opens
`runtime_web/page/run.html` from a local cross-origin isolated server and reads the page's
`window.webjitResult`. Either way the Python side only moves arrays in and out.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webjit.errors import RunError
from webjit.feeds import make_inputs, numpy_dtype
from webjit.server import serve_folders

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGED_RUNTIME = Path(__file__).resolve().parent / "runtime_web"  # where a wheel carries the JS runtime
# Where Chromium is looked for when --chromium is not given: PATH names first, then Debian's path.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_DEFAULT = "/usr/bin/chromium"
# Chromium's SwiftShader Vulkan driver: Dawn (the npm webgpu package) needs it in Node when
# the machine has no GPU driver of its own.
CHROMIUM_LIB = Path("/usr/lib/chromium")
SWIFTSHADER_ICD = CHROMIUM_LIB / "vk_swiftshader_icd.json"
CHROMIUM_ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
BACKENDS = ("wasm", "webgpu", "auto")
BROWSERS = ("chromium", "node")


@dataclass(frozen=True)
class RunResult:
    outputs: dict[str, np.ndarray]
    backend: str
    threads: int
    thread_note: str | None
    latency_ms: float
    load_ms: float
    console: tuple[str, ...] = field(default=())
    backend_note: str | None = None  # why 'auto' ran on wasm, or why the GPU was left
    load_memory: dict | None = None  # session.weights, and the peak JS memory seen while loading


def runtime_dir() -> Path:
    """The JS runtime: the copy an installed wheel carries, else runtime_web/ of this checkout."""
    for folder in (PACKAGED_RUNTIME, CHECKOUT / "runtime_web"):
        if (folder / "src" / "index.js").is_file():
            return folder
    raise RunError(f"the JS runtime is missing (neither {PACKAGED_RUNTIME} nor {CHECKOUT / 'runtime_web'} "
                   "has src/index.js); reinstall webjit from its wheel or run it from a source checkout")


def pyodide_dir() -> Path | None:
    """The npm pyodide package beside the JS runtime (its devDependency; `npm install` in
    runtime_web), which compileInBrowser runs the compiler on; None when it is not installed."""
    for folder in (runtime_dir() / "node_modules" / "pyodide", CHECKOUT / "runtime_web" / "node_modules" / "pyodide"):
        if (folder / "pyodide.mjs").is_file():
            return folder
    return None


def compiler_mounts(folder: Path) -> dict:
    """What webjit.compileInBrowser fetches, at the paths it asks for by default: Pyodide at
    /pyodide/ (the runtime's npm pyodide, when installed) and webjit's wheel at /compiler/
    (written into `folder`)."""
    from webjit.page_wheel import write_page_wheel

    write_page_wheel(folder)
    pyodide = pyodide_dir()
    return {"/compiler/": folder, **({"/pyodide/": pyodide} if pyodide else {})}


def find_chromium(explicit: str | None = None) -> str:
    """The Chromium executable: `explicit` (--chromium) if given, else the first of
    CHROMIUM_NAMES on PATH, else Debian's /usr/bin/chromium; a RunError when there is none."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RunError(f"--chromium {explicit}: no executable file there")
        return str(path)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.access(CHROMIUM_DEFAULT, os.X_OK):
        return CHROMIUM_DEFAULT
    raise RunError(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on PATH and {CHROMIUM_DEFAULT}); "
                   "install Chromium, give its path with --chromium PATH, or use --browser node")


def run_bundle(bundle_dir, inputs: Mapping[str, np.ndarray], backend: str = "wasm",
               browser: str = "chromium", threads: int | str = "auto", repeat: int = 1,
               timeout_s: float = 300.0, limits: Mapping[str, int] | None = None,
               gpu_in_browser: bool = True, isolated: bool = True, chromium: str | None = None) -> RunResult:
    """Runs the bundle once (or, after a warm-up, `repeat` times, reporting the median latency) on `inputs`.

    Missing inputs are invented (see feeds.make_inputs); given ones are checked against
    the manifest first so that a wrong shape is one sentence, not a runtime failure.
    `limits` (Node only) forces WebGPU device limits lower than the adapter's, as a
    weaker GPU would have; `gpu_in_browser=False` starts Chromium without WebGPU;
    `isolated=False` serves the page without COOP/COEP headers (no WASM threads);
    `chromium` is the browser's executable (found on PATH when not given).
    """
    if limits and browser != "node":
        raise RunError("forcing WebGPU limits is supported with --browser node only")
    if backend not in BACKENDS:
        raise RunError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if browser not in BROWSERS:
        raise RunError(f"unknown browser {browser!r}; choose one of {', '.join(BROWSERS)}")
    if repeat < 1:
        raise RunError("--repeat must be at least 1")
    bundle_dir = Path(bundle_dir).resolve()
    manifest = load_manifest(bundle_dir)
    feeds = make_inputs(manifest, inputs)
    with tempfile.TemporaryDirectory(prefix="webjit-run-") as temp:
        inputs_dir = Path(temp) / "inputs"
        write_npy_folder(inputs_dir, feeds)
        if browser == "node":
            return run_node(bundle_dir, inputs_dir, Path(temp) / "outputs", manifest, backend,
                            threads, repeat, timeout_s, limits)
        return run_chromium(bundle_dir, inputs_dir, manifest, backend, threads, repeat,
                            timeout_s, Path(temp) / "profile", gpu_in_browser, isolated, chromium)


def load_manifest(bundle_dir: Path) -> dict:
    from webjit.bundle import read_manifest  # the bundle module owns the format's checks
    return read_manifest(bundle_dir)


def npy_file(name: str) -> str:
    """The file name a tensor's .npy travels under between Python and the runtime: letters,
    digits, '_' and '-' kept, every other byte written ~HH, so no name is ever a path
    (runtime_web/src/npy.js npyFile says the same)."""
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_-") else f"~{b:02x}"
                   for b in name.encode()) + ".npy"


def write_npy_folder(folder: Path, arrays: Mapping[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(folder / npy_file(name), array, allow_pickle=False)


def read_npy_outputs(folder: Path, manifest: Mapping) -> dict[str, np.ndarray]:
    outputs = {}
    for spec in manifest["outputs"]:
        path = folder / npy_file(spec["name"])
        if not path.is_file():
            raise RunError(f"the runtime wrote no output {spec['name']!r} ({path})")
        outputs[spec["name"]] = np.load(path, allow_pickle=False)
    return outputs


def node_env(backend: str) -> dict[str, str]:
    """The Node runner's environment: for webgpu/auto, Dawn pointed at SwiftShader when present."""
    env = dict(os.environ)
    if backend in ("webgpu", "auto") and SWIFTSHADER_ICD.is_file():
        env["LD_LIBRARY_PATH"] = ":".join(filter(None, [str(CHROMIUM_LIB), env.get("LD_LIBRARY_PATH")]))
        env.setdefault("VK_ICD_FILENAMES", str(SWIFTSHADER_ICD))
    return env


def run_node(bundle_dir: Path, inputs_dir: Path, outputs_dir: Path, manifest: Mapping,
             backend: str, threads, repeat: int, timeout_s: float, limits=None) -> RunResult:
    node = shutil.which("node")
    if node is None:
        raise RunError("node is not on PATH; install Node.js 20 or use --browser chromium")
    script = runtime_dir() / "bin" / "webjit-run-node.mjs"
    if not script.is_file():
        raise RunError(f"the Node runner {script} is missing; update the checkout")
    outputs_dir.mkdir(parents=True, exist_ok=True)
    command = [node, str(script), str(bundle_dir), "--inputs", str(inputs_dir),
               "--outputs", str(outputs_dir), "--backend", backend, "--threads", str(threads),
               "--repeat", str(repeat)] + (["--limits", json.dumps(dict(limits))] if limits else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              env=node_env(backend))
    except subprocess.TimeoutExpired:
        raise RunError(f"the Node runner did not finish within {timeout_s:g} s; "
                       "raise the timeout or try a smaller model") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        if done.returncode == 2 and lines:
            raise RunError(lines[-1].removeprefix("webjit: error: "))
        tail = "\n".join(lines[-20:])
        raise RunError(f"the Node runner failed with exit code {done.returncode}:\n{tail}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RunError(f"the Node runner printed no result line; it printed:\n"
                       f"{done.stdout[-2000:]}")
    result = json.loads(lines[-1])
    return RunResult(read_npy_outputs(outputs_dir, manifest), result["backend"],
                     int(result["threads"]), result.get("threadNote"),
                     float(result["latency_ms"]), float(result["load_ms"]),
                     backend_note=result.get("backendNote"), load_memory=result.get("load_memory"))


def page_url(base: str, backend: str, threads, repeat: int) -> str:
    query = urllib.parse.urlencode({"bundle": f"{base}/bundle/", "backend": backend,
                                    "threads": threads, "repeat": repeat,
                                    "inputs": f"{base}/inputs/"})
    return f"{base}/runtime/page/run.html?{query}"


def playwright_api():
    """(sync_playwright, playwright's Error type), or a RunError naming what is missing."""
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError:
        raise RunError("the Python package playwright is not installed; "
                       "pip install 'webjit[browser]', or use --browser node") from None
    return sync_playwright, PlaywrightError


def launch_chromium(playwright, profile: Path, webgpu: bool, error_type: type[Exception],
                    chromium: str | None = None):
    """Headless Chromium (the system's: playwright never downloads one) with a fresh profile
    folder (a persistent context is the only way to name one: no cache or tuning record leaks
    between runs)."""
    executable = find_chromium(chromium)
    args = CHROMIUM_ARGS + (["--enable-unsafe-webgpu"] if webgpu else [])
    try:
        return playwright.chromium.launch_persistent_context(str(profile), executable_path=executable,
                                                             headless=True, args=args)
    except error_type as err:
        raise RunError(f"Chromium did not start ({first_line(str(err))})") from None


def run_chromium(bundle_dir: Path, inputs_dir: Path, manifest: Mapping, backend: str,
                 threads, repeat: int, timeout_s: float, profile: Path, gpu_in_browser: bool = True,
                 isolated: bool = True, chromium: str | None = None) -> RunResult:
    sync_playwright, PlaywrightError = playwright_api()
    mounts = {"/runtime/": runtime_dir(), "/bundle/": bundle_dir, "/inputs/": inputs_dir}
    wants_gpu = gpu_in_browser and backend in ("webgpu", "auto")
    messages: list[str] = []
    with serve_folders(mounts, isolated=isolated) as base, sync_playwright() as playwright:
        context = launch_chromium(playwright, profile, wants_gpu, PlaywrightError, chromium)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda msg: record_console(messages, msg))
            page.on("pageerror", lambda err: messages.append(f"page error: {err}"))
            page.on("crash", lambda _page: messages.append("the page crashed"))
            result = wait_for_result(page, page_url(base, backend, threads, repeat),
                                     timeout_s, messages, PlaywrightError)
        finally:
            context.close()
    if "error" in result:
        raise RunError(with_console(str(result["error"]), messages))
    outputs = decode_outputs(result.get("outputs", {}), manifest)
    return RunResult(outputs, result["backend"], int(result["threads"]),
                     result.get("threadNote"), float(result["latency_ms"]),
                     float(result["load_ms"]), tuple(messages), result.get("backendNote"),
                     result.get("load_memory"))


def wait_for_result(page, url: str, timeout_s: float, messages: list[str],
                    error_type: type[Exception]) -> dict:
    timeout_ms = timeout_s * 1000
    try:
        page.goto(url, timeout=timeout_ms)
        page.wait_for_function("() => window.webjitResult !== undefined",
                               polling=100, timeout=timeout_ms)
        return page.evaluate("() => window.webjitResult")
    except error_type as err:
        if "Timeout" in type(err).__name__ or "Timeout" in str(err):
            raise RunError(with_console(f"the page gave no result within {timeout_s:g} s; "
                                        "raise the timeout or look at the console errors",
                                        messages)) from None
        raise RunError(with_console(f"the browser failed: {first_line(str(err))}",
                                    messages)) from None


def decode_outputs(encoded: Mapping[str, Mapping], manifest: Mapping) -> dict[str, np.ndarray]:
    outputs = {}
    for spec in manifest["outputs"]:
        if spec["name"] not in encoded:
            raise RunError(f"the page returned no output {spec['name']!r}")
        item = encoded[spec["name"]]
        dtype = numpy_dtype(item.get("dtype", spec["dtype"]))
        data = np.frombuffer(base64.b64decode(item["base64"]), dtype=dtype.newbyteorder("<"))
        shape = tuple(item.get("shape", spec["shape"]))
        if data.size != int(np.prod(shape)):
            raise RunError(f"the page returned {data.size} values for output {spec['name']!r} "
                           f"of shape {shape}")
        outputs[spec["name"]] = data.reshape(shape).astype(dtype)
    return outputs


def record_console(messages: list[str], message) -> None:
    if message.type == "error":
        messages.append(message.text)


def with_console(message: str, messages: list[str]) -> str:
    if not messages:
        return message
    return message + "\nbrowser console:\n" + "\n".join(f"  {m}" for m in messages[-20:])


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no message"
