"""The bundle: manifest + weight shards + kernel binaries, as data (docs/bundle.md)."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .errors import BundleError
from .kernels import spec_text
from .lower import Program
from .plan import MemoryPlan

FORMAT_VERSION = 1
CONTROL_BYTES = 256
SHARD_BYTES = 128 * 1024 * 1024 - 1024 * 1024  # under the smallest common maxStorageBufferBindingSize


@dataclass
class Bundle:
    manifest: dict
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> payload

    def save(self, directory) -> None:
        """Write the bundle folder (manifest last, so a half-written bundle has none)."""
        directory = os.fspath(directory)
        os.makedirs(os.path.join(directory, "kernels"), exist_ok=True)
        for rel, payload in self.files.items():
            with open(os.path.join(directory, rel), "wb") as f:
                f.write(payload)
        with open(os.path.join(directory, "manifest.json"), "w") as f:
            json.dump(self.manifest, f, indent=1)
            f.write("\n")


def _entry(rel: str, payload: bytes) -> dict:
    return {"file": rel, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def build_bundle(program: Program, plan: MemoryPlan, kernels: list, kernel_of_step: list[int], model_name: str,
                 limits=None) -> Bundle:
    """Assemble manifest and payloads from the lowered program, its memory plan and kernel binaries."""
    files: dict[str, bytes] = {}
    weights = bytearray(plan.weights_bytes)
    for b in program.buffers:
        if b.region == "weights":
            raw = np.ascontiguousarray(b.data).tobytes()
            weights[plan.offsets[b.id]:plan.offsets[b.id] + len(raw)] = raw
    shards = []
    for i, start in enumerate(range(0, max(len(weights), 1), SHARD_BYTES)):
        rel = f"weights-{i}.bin"
        files[rel] = bytes(weights[start:start + SHARD_BYTES])
        shards.append(_entry(rel, files[rel]))
    kernel_entries = []
    for i, (spec, emitted) in enumerate(kernels):
        entry = {"id": i, "family": spec.family, "signature": spec_text(spec), "nargs": len(spec.args)}
        if "wasm" in emitted:
            rel = f"kernels/k{i}.wasm"
            files[rel] = emitted["wasm"].code
            entry["wasm"] = _entry(rel, files[rel])
        if "webgpu" in emitted:
            wgsl = emitted["webgpu"]
            rel = f"kernels/k{i}.wgsl"
            files[rel] = wgsl.source.encode()
            entry["webgpu"] = dict(_entry(rel, files[rel]), entry=wgsl.entry, workgroup=list(wgsl.workgroup),
                                   dispatch=list(wgsl.dispatch),
                                   bindings=[{"arg": b.arg, "start": b.start, "count": b.count, "write": b.write, "output": b.output}
                                             for b in wgsl.bindings])
        kernel_entries.append(entry)
    weights_base = CONTROL_BYTES
    arena_base = weights_base + plan.weights_bytes
    tensors = [{"id": b.id, "name": b.name, "dtype": b.dtype, "size": b.size, "region": b.region,
                "offset": plan.offsets[b.id]} for b in program.buffers]
    io = lambda items: [dict({"name": x.name, "dtype": x.dtype, "shape": list(x.shape), "tensor": x.buffer.id},
                             **({"valid_range": list(x.valid_range)} if getattr(x, "valid_range", None) else {}))
                        for x in items]
    manifest = {
        "format": "webjit-bundle", "format_version": FORMAT_VERSION, "compiler": f"webjit {__version__}",
        "model": model_name, "inputs": io(program.inputs), "outputs": io(program.outputs),
        "memory": {"control_bytes": CONTROL_BYTES, "weights_base": weights_base, "weights_bytes": plan.weights_bytes,
                   "arena_base": arena_base, "arena_bytes": plan.arena_bytes, "total_bytes": arena_base + plan.arena_bytes},
        "tensors": tensors, "weights": shards, "kernels": kernel_entries,
        **({"webgpu": {"limits": limits.to_json()}} if limits is not None and any("webgpu" in e for _, e in kernels) else {}),
        "steps": [{"kernel": k, "args": [b.id for b in step.buffers], "name": step.name}
                  for step, k in zip(program.steps, kernel_of_step)],
    }
    return Bundle(manifest, files)


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
        raise BundleError(f"bundle '{directory}' has format version {manifest.get('format_version')}; this webjit reads "
                          f"version {FORMAT_VERSION}, recompile it")
    return manifest
