"""The compiler as the page runs it: ONNX bytes in, bundle files out, under Pyodide in a worker
(runtime_web/src/compile_worker.js calls compile_for_page). The same function runs under
CPython, where tests compare what it makes with the host compiler's bundle.

A request is JSON: {"shapes": {input: [dims]}, "dims": {name: size | [lo, hi]}, "backends":
[...], "jit": bool, "weights": "fp32" | "fp16" | "int8", "deflate": bool, "name": str,
"constants": {input: value}}; every key is optional (the host compiler's defaults). The answer holds the bundle (one zip of its files), the time of
every stage, and the kernels generated.
"""
from __future__ import annotations

import json
import time

from .errors import CompileError, WebjitError
from .nplike import PURE
from .pipeline import BACKENDS, Options, compile as compile_model

REQUEST_KEYS = ("shapes", "dims", "backends", "jit", "weights", "deflate", "name", "constants")


def compile_for_page(model: bytes, request_json: str = "{}", progress=None) -> dict:
    """Compile `model` (the .onnx file's bytes) as `request_json` asks. `progress(message,
    fraction)` hears each stage start. Returns {"files": {name: bytes}, "stages": [[stage,
    seconds], ...], "kernels": kernel forms generated, "seconds": total} or, for a model or
    request webjit refuses, {"error": one sentence}."""
    marks: list[tuple[str, float]] = []  # (stage, when it started); the last is "done"

    def report(message: str, fraction: float) -> None:
        stage = message.split(" (")[0]  # "generating kernels (8/40)" is one stage
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.perf_counter()))
        if progress is not None:
            progress(message, fraction)

    started = time.perf_counter()
    try:
        request = _parse_request(request_json)
        options = Options(progress=report, model_name=request.get("name", "model"),
                          backends=tuple(request.get("backends", BACKENDS)), jit=bool(request.get("jit", False)),
                          weights=request.get("weights", "fp32"), deflate=bool(request.get("deflate", True)),
                          constants=dict(request.get("constants", {})))
        data = model.to_bytes() if hasattr(model, "to_bytes") else bytes(model)
        bundle = compile_model(data, _shapes(request.get("shapes")), options, _dims(request.get("dims")))
    except WebjitError as err:
        return {"error": str(err)}
    except AttributeError as err:
        if not PURE:
            raise
        return {"error": f"the in-browser compiler cannot compile this model: it needs a part of numpy it does not have "
                         f"({err}); compile it with the host compiler"}
    stages = [[name, round(end - start, 4)] for (name, start), (_, end) in zip(marks, marks[1:])]
    forms = sum(1 + len(entry[b].get("variants", ())) for entry in bundle.manifest["kernels"] for b in BACKENDS if b in entry)
    return {"bundle": bundle.zip_bytes(), "stages": stages, "kernels": forms,
            "seconds": round(time.perf_counter() - started, 4)}


def _parse_request(text: str) -> dict:
    try:
        request = json.loads(text or "{}")
    except ValueError:
        raise CompileError("the compile request is not JSON") from None
    if not isinstance(request, dict):
        raise CompileError("the compile request must be a JSON object")
    unknown = sorted(set(request) - set(REQUEST_KEYS))
    if unknown:
        raise CompileError(f"the compile request has unknown key(s) {', '.join(unknown)}; "
                           f"it takes {', '.join(REQUEST_KEYS)}")
    return request


def _shapes(shapes) -> dict | None:
    if shapes is None:
        return None
    return {name: tuple(dims) for name, dims in shapes.items()}


def _dims(dims) -> dict | None:
    if dims is None:
        return None
    return {name: tuple(size) if isinstance(size, list) else size for name, size in dims.items()}


def specialise_for_page(manifest_json: str, dims_json: str) -> dict:
    """WASM code of every symbolic kernel of a bundle (its manifest.json text) specialised to
    the sizes `dims_json` ({dim: size}): the same arguments, the sizes as constants, and the
    default schedule for those sizes. Returns {"kernels": [{"kernel": id, "bytes": module,
    "config": {...}}], "seconds": s} or {"error": one sentence}."""
    from .kernels import spec_from_json
    from .symbolic import specialise
    from .targets import WasmTarget
    from .wasm.codegen import FAMILIES, wasm_kernel

    started = time.perf_counter()
    try:
        manifest, env = json.loads(manifest_json), json.loads(dims_json)
        if not isinstance(manifest, dict) or "kernels" not in manifest or not isinstance(env, dict):
            raise ValueError("no kernels, or sizes that are not an object")
        if not manifest.get("dims"):
            raise CompileError("this bundle has no symbolic dimensions: its kernels are specialised already")
        target = manifest.get("targets", {}).get("wasm", {})
        wasm = WasmTarget(threads=int(target.get("threads", 4)), relaxed_simd=bool(target.get("relaxed_simd", False)))
        found = []
        for entry in manifest["kernels"]:
            if "wasm" not in entry or not entry["spec"].get("dims"):
                continue
            spec = specialise(spec_from_json(entry["spec"]), env)
            config = FAMILIES[spec.family].default_config(spec, wasm)
            found.append({"kernel": entry["id"], "bytes": wasm_kernel(spec, config, wasm).code,
                          "config": FAMILIES[spec.family].config_to_json(config)})
    except WebjitError as err:
        return {"error": str(err)}
    except (ValueError, KeyError, TypeError) as err:
        return {"error": f"the manifest is not a webjit bundle's ({type(err).__name__}: {err})"}
    return {"kernels": found, "seconds": round(time.perf_counter() - started, 4)}
