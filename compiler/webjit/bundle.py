"""The bundle: manifest + weight shards + kernel binaries, as data (docs/bundle.md)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field

from . import __version__
from .errors import BundleError, CompileError
from .kernels import flops, schedule_key, signature, spec_from_json, spec_to_json
from .lower import Program
from .plan import MemoryPlan
from .schedule import choose
from .symbolic import size_json
from .targets import Targets
from .weights import ALIGN, WeightStore
from .wasm.codegen import wasm_kernel
from .webgpu.codegen import wgsl_kernel
from .webgpu.kernel import dispatch_json

FORMAT_VERSION = 3
MODEL_DTYPES = ("float32", "int64", "int32", "bool", "float16", "float64", "int8", "uint8", "int16", "uint16")  # the ONNX dtypes of a bundle's inputs and outputs
CONTROL_BYTES = 256
SHARD_BYTES = 128 * 1024 * 1024 - 1024 * 1024  # default shard size: under common static hosts' file limits


@dataclass
class Bundle:
    manifest: dict
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> payload

    def sizes(self) -> dict[str, int]:
        """Bytes by kind: weights (shards), kernels, JIT candidates, manifest."""
        found = {"weights": 0, "kernels": 0, "candidates": 0}
        for rel, payload in self.files.items():
            found["weights" if rel.startswith("weights-") else rel.split("/")[0]] += len(payload)
        found["manifest"] = len(json.dumps(self.manifest, indent=1)) + 1
        return found

    def manifest_bytes(self) -> bytes:
        """manifest.json as saved."""
        return (json.dumps(self.manifest, indent=1) + "\n").encode()

    def save(self, directory) -> None:
        """Write the bundle folder (manifest last, so a half-written bundle has none)."""
        directory = os.fspath(directory)
        for folder in sorted({os.path.dirname(rel) for rel in self.files} | {"kernels"}):
            os.makedirs(os.path.join(directory, folder), exist_ok=True)
        for rel, payload in self.files.items():
            with open(os.path.join(directory, rel), "wb") as f:
                f.write(payload)
        with open(os.path.join(directory, "manifest.json"), "wb") as f:
            f.write(self.manifest_bytes())

    def zip_bytes(self) -> bytes:
        """The bundle folder as one zip (stored, not compressed: large payloads are deflated
        already), which webjit.load takes as a Blob or bytes."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for rel, payload in [*self.files.items(), ("manifest.json", self.manifest_bytes())]:
                archive.writestr(zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0)), payload)
        return out.getvalue()


def size_text(sizes: dict[str, int], model_bytes: int | None = None) -> str:
    """One line of bundle bytes by kind (what the first load fetches, then the JIT's
    candidates), against the ONNX file's size when known."""
    loaded = sizes["weights"] + sizes["kernels"] + sizes["manifest"]
    against = f" ({100 * loaded / model_bytes:.1f}% of the {megabytes(model_bytes)} ONNX file)" if model_bytes else ""
    jit = f"; JIT candidates {megabytes(sizes['candidates'])} more, fetched when tuning starts" if sizes["candidates"] else ""
    return (f"bundle {megabytes(loaded)}{against}: weights {megabytes(sizes['weights'])}, "
            f"kernels {megabytes(sizes['kernels'])}, manifest {megabytes(sizes['manifest'])}{jit}\n")


def megabytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 1e5 else f"{count / 1e3:.1f} KB"


def _entry(rel: str, payload: bytes) -> dict:
    return {"file": rel, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


@dataclass(frozen=True)
class EmittedKernel:
    """One distinct kernel as generated: per backend, (choice, code) for the default first,
    then for each device variant."""
    kernel: object  # schedule.Kernel
    schedules: dict  # backend -> schedule.Schedule
    code: dict  # backend -> [(schedule.Choice, WasmKernel | WgslKernel)]


def build_bundle(program: Program, plan: MemoryPlan, store: WeightStore, kernels: list[EmittedKernel],
                 model_name: str, targets, backends: tuple[str, ...], candidates: dict | None = None,
                 shard_bytes: int = SHARD_BYTES, bound: tuple[str, ...] = ()) -> Bundle:
    """Assemble manifest and payloads from the lowered program, its memory plan, the stored
    weights and kernel code; `candidates` ({backend: {kernel index: [jit.Candidate]}}) are
    the JIT's; `bound` names the model inputs folded in as constants (--const)."""
    if shard_bytes < ALIGN or shard_bytes % ALIGN:
        raise CompileError(f"a weight shard must be a positive multiple of {ALIGN} bytes, not {shard_bytes}")
    files: dict[str, bytes] = {}
    shards = []
    for i, start in enumerate(range(0, len(store.stream), shard_bytes)):
        rel = f"weights-{i}.bin"
        files[rel] = store.stream[start:start + shard_bytes]
        shards.append(_entry(rel, files[rel]))
    kernel_entries = [_kernel_entry(i, emitted, files) for i, emitted in enumerate(kernels)]
    for backend, by_kernel in (candidates or {}).items():
        for i, found in by_kernel.items():
            default = kernels[i].code[backend][0][1]
            if backend == "webgpu" and any(c.bindings != tuple(default.bindings) for c in found):
                raise CompileError(f"internal error: a JIT candidate of kernel {i} binds its arguments "
                                   f"differently from the default")
            kernel_entries[i][backend]["candidates"] = [_candidate_entry(f"candidates/k{i}.c{j}", backend, c, files)
                                                        for j, c in enumerate(found)]
    kernel_of_step = {}
    for i, emitted in enumerate(kernels):
        for step in emitted.kernel.steps:
            kernel_of_step[step] = i
    weights_base = CONTROL_BYTES
    arena_base = weights_base + plan.weights_bytes
    tensors = [{"id": b.id, "name": b.name, "dtype": b.dtype, "size": b.size, "region": b.region,
                "offset": plan.offsets[b.id], **({"stored": store.stored[b.id].to_json()} if b.id in store.stored else {})}
               for b in program.buffers]
    io = lambda items: [dict({"name": x.name, "dtype": x.dtype, "shape": [size_json(d) for d in x.shape],
                              "tensor": x.buffer.id},
                             **({"valid_range": list(x.valid_range)} if getattr(x, "valid_range", None) else {}))
                        for x in items]
    manifest = {
        "format": "webjit-bundle", "format_version": FORMAT_VERSION, "compiler": f"webjit {__version__}",
        "model": model_name, "backends": list(backends), "inputs": io(program.inputs), "outputs": io(program.outputs),
        "memory": {"control_bytes": CONTROL_BYTES, "weights_base": weights_base, "weights_bytes": plan.weights_bytes,
                   "arena_base": arena_base, "arena_bytes": plan.arena_bytes, "total_bytes": arena_base + plan.arena_bytes},
        "targets": {backend: targets.of(backend).to_json() for backend in backends},
        "weight_storage": store.encoding, "tensors": tensors, "weights": shards, "kernels": kernel_entries,
        **({"webgpu": {"limits": targets.webgpu.limits.to_json()}} if "webgpu" in backends else {}),
        **({"status": program.status.id} if program.status is not None else {}),
        **({"bound": list(bound)} if bound else {}),
        **({"dims": [{"name": d.name, "min": d.lo, "max": d.hi} for d in program.dims],
            "sizes": program.sizes.id} if program.sizes is not None else {}),
        "steps": [{"kernel": kernel_of_step[i], "args": [b.id for b in step.buffers], "name": step.name,
                   **({"source": step.source} if step.source is not None else {})}
                  for i, step in enumerate(program.steps)],
    }
    return Bundle(manifest, files)


def _kernel_entry(index: int, emitted: EmittedKernel, files: dict[str, bytes]) -> dict:
    spec = emitted.kernel.spec
    entry = {"id": index, "family": spec.family, "signature": signature(spec), "schedule_key": schedule_key(spec),
             "nargs": len(spec.args), "args": [{"dtype": a.dtype, "size": a.size, "output": a.output} for a in spec.args],
             "flops": size_json(flops(spec)), "spec": spec_to_json(spec)}
    for backend, code in emitted.code.items():
        family = emitted.schedules[backend].family
        forms = [_form(f"kernels/k{index}" if j == 0 else f"kernels/k{index}.v{j}", backend, family, choice, kernel,
                       files) for j, (choice, kernel) in enumerate(code)]
        seen: dict[str, str] = {}  # forms with the same code share one file
        for form in forms:
            first = seen.setdefault(form["sha256"], form["file"])
            if first != form["file"]:
                del files[form["file"]]
                form["file"] = first
        if backend == "webgpu":
            default = code[0][1]
            forms[0]["bindings"] = [{"arg": b.arg, "start": b.start, "count": b.count, "write": b.write,
                                     "output": b.output} for b in default.bindings]
            if any(kernel.bindings != default.bindings for _, kernel in code[1:]):
                raise CompileError(f"internal error: a variant of kernel {index} binds its arguments "
                                   f"differently from the default")
        entry[backend] = dict(forms[0], variants=forms[1:])
    return entry


def _form(stem: str, backend: str, family, choice, kernel, files: dict[str, bytes]) -> dict:
    """The manifest entry of one form of a kernel (its code written into `files`)."""
    form = {"config": family.config_to_json(choice.config), "requires": list(choice.requires)}
    if backend == "wasm":
        files[stem + ".wasm"] = kernel.code
        form.update(_entry(stem + ".wasm", kernel.code))
    else:
        files[stem + ".wgsl"] = kernel.source.encode()
        form.update(_entry(stem + ".wgsl", files[stem + ".wgsl"]), entry=kernel.entry,
                    workgroup=list(kernel.workgroup), dispatch=dispatch_json(kernel.dispatch))
    if choice.device is not None:
        form = {"device": choice.device, **form}
        if choice.record is not None:
            record = choice.record
            form["tuned"] = {"match": choice.match, "time_ms": record.time_ms, "default_ms": record.default_ms}
    return form


def _candidate_entry(stem: str, backend: str, candidate, files: dict[str, bytes]) -> dict:
    """The manifest entry of one JIT candidate (its code written into `files`)."""
    rel = stem + (".wasm" if backend == "wasm" else ".wgsl")
    files[rel] = candidate.code
    entry = {"config": candidate.config, "requires": list(candidate.requires), **_entry(rel, candidate.code)}
    if backend == "wasm":
        entry["threads"] = list(candidate.threads)
    else:
        entry.update(entry=candidate.entry, workgroup=list(candidate.workgroup), dispatch=list(candidate.dispatch))
    return entry


def read_manifest(directory) -> dict:
    """The manifest of a bundle folder, checked for format and version."""
    path = os.path.join(os.fspath(directory), "manifest.json")
    if not os.path.isfile(path):
        raise BundleError(f"'{directory}' is not a webjit bundle (no manifest.json); compile one with `webjit compile`")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise BundleError(f"the manifest of bundle '{directory}' is corrupt ({exc}); recompile the bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "webjit-bundle":
        raise BundleError(f"'{path}' is not a webjit bundle manifest; recompile the bundle")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"bundle '{directory}' has format version {manifest.get('format_version')!r}; this webjit reads "
                          f"version {FORMAT_VERSION}, recompile it")
    _check_io(manifest, path)
    return manifest


def _check_io(manifest: dict, path: str) -> None:
    """The parts of a manifest Python reads itself (the runtime checks the rest)."""
    dims = manifest.get("dims", [])
    names = {d.get("name") for d in dims if isinstance(d, dict)} if isinstance(dims, list) else set()
    is_term = lambda t: (isinstance(t, list) and len(t) == 2 and isinstance(t[0], int) and isinstance(t[1], list)
                         and all(n in names for n in t[1]))
    is_count = lambda v: (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or (
        isinstance(v, dict) and isinstance(v.get("sym"), list) and all(map(is_term, v["sym"])))
    for kind in ("inputs", "outputs"):
        items = manifest.get(kind)
        if not isinstance(items, list) or not all(
                isinstance(x, dict) and isinstance(x.get("name"), str) and x.get("dtype") in MODEL_DTYPES
                and isinstance(x.get("shape"), list) and all(map(is_count, x["shape"])) for x in items):
            raise BundleError(f"'{path}' is invalid: its {kind} are not a list of names, dtypes "
                              f"({', '.join(MODEL_DTYPES)}) and shapes; "
                              f"rebuild the bundle")



def add_variants(source, target, db) -> dict:
    """Copies the bundle folder `source` to `target` with the variants `db` holds for its
    kernels added (weights are hard-linked where the file system allows); returns the new
    manifest. The kernels' specs in the manifest are all it needs: no model, no recompile."""
    source, target = os.fspath(source), os.fspath(target)
    manifest = read_manifest(source)
    targets = Targets.from_manifest(manifest)
    files: dict[str, bytes] = {}
    for kernel in manifest["kernels"]:
        spec = spec_from_json(kernel["spec"])
        for backend in manifest["backends"]:
            part = kernel[backend]
            for form in [part, *part["variants"]]:
                files[form["file"]] = _read(source, form["file"])
            schedule = choose(spec, backend, targets.of(backend), db)
            emit = wasm_kernel if backend == "wasm" else wgsl_kernel
            known = {v["device"] for v in part["variants"]}
            first = len(part["variants"]) + 1
            for j, choice in enumerate([v for v in schedule.variants if v.device not in known], start=first):
                code = emit(spec, choice.config, choice.target)
                part["variants"].append(_form(f"kernels/k{kernel['id']}.v{j}", backend, schedule.family, choice,
                                              code, files))
    os.makedirs(os.path.join(target, "kernels"), exist_ok=True)
    for shard in manifest["weights"]:
        _link_or_copy(os.path.join(source, shard["file"]), os.path.join(target, shard["file"]))
    Bundle(manifest, files).save(target)
    return manifest


def _read(folder: str, rel: str) -> bytes:
    with open(os.path.join(folder, rel), "rb") as f:
        return f.read()


def _link_or_copy(src: str, dst: str) -> None:
    if os.path.exists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
