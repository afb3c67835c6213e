"""What a WGSL kernel is for the runtime: source text, launch shape, and how args bind.

Kernels are generated at compile time for a set of device `Limits` (WebGPU's defaults
unless the user asks for lower ones): every adapter supports the defaults, so a bundle
compiled for them runs everywhere. An argument larger than the storage binding limit is
bound as several chunks, each a contiguous element range at a 256-byte aligned offset.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import CompileError
from ..symbolic import Sym, evaluate, size_json, upper

OFFSET_ALIGN = 256  # bytes: minStorageBufferOffsetAlignment on every adapter


@dataclass(frozen=True)
class Limits:
    max_invocations: int = 256  # maxComputeInvocationsPerWorkgroup
    max_workgroup_size: tuple[int, int, int] = (256, 256, 64)  # maxComputeWorkgroupSize{X,Y,Z}
    max_workgroup_storage: int = 16384  # bytes, maxComputeWorkgroupStorageSize
    max_binding_bytes: int = 134217728  # maxStorageBufferBindingSize
    max_workgroups_per_dim: int = 65535  # maxComputeWorkgroupsPerDimension
    max_storage_buffers: int = 8  # maxStorageBuffersPerShaderStage

    def to_json(self) -> dict:
        return {"maxComputeInvocationsPerWorkgroup": self.max_invocations,
                "maxComputeWorkgroupSizeX": self.max_workgroup_size[0],
                "maxComputeWorkgroupSizeY": self.max_workgroup_size[1],
                "maxComputeWorkgroupSizeZ": self.max_workgroup_size[2],
                "maxComputeWorkgroupStorageSize": self.max_workgroup_storage,
                "maxStorageBufferBindingSize": self.max_binding_bytes,
                "maxComputeWorkgroupsPerDimension": self.max_workgroups_per_dim,
                "maxStorageBuffersPerShaderStage": self.max_storage_buffers}

    @classmethod
    def from_json(cls, data: dict) -> "Limits":
        """The limits a manifest states (names of to_json; missing ones keep the defaults)."""
        values = {field_: int(data[name]) for name, field_ in (
            ("maxComputeInvocationsPerWorkgroup", "max_invocations"),
            ("maxComputeWorkgroupStorageSize", "max_workgroup_storage"),
            ("maxStorageBufferBindingSize", "max_binding_bytes"),
            ("maxComputeWorkgroupsPerDimension", "max_workgroups_per_dim"),
            ("maxStorageBuffersPerShaderStage", "max_storage_buffers")) if name in data}
        if all(f"maxComputeWorkgroupSize{axis}" in data for axis in "XYZ"):
            values["max_workgroup_size"] = tuple(int(data[f"maxComputeWorkgroupSize{axis}"]) for axis in "XYZ")
        return cls(**values)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Binding:
    """`@binding(i)` (i = position in WgslKernel.bindings) holds elements [start, start+count) of arg `arg`.

    Every binding is declared read_write: inputs and outputs of a step usually live in the
    same arena buffer, and WebGPU refuses one buffer bound both read-only and writable in a
    dispatch. The one exception is the symbolic sizes, which the runtime binds from a copy
    in a buffer of their own. `output` says whether the kernel writes it.
    """
    arg: int
    start: int  # elements from the start of the arg's tensor
    count: int
    output: bool
    write: bool = True  # declared var<storage, read_write>


@dataclass(frozen=True)
class WgslKernel:
    source: str
    entry: str
    workgroup: tuple[int, int, int]
    dispatch: "tuple[int, int, int] | Workgroups"  # per dimension, each <= limits.max_workgroups_per_dim
    bindings: tuple[Binding, ...]


def chunk_bindings(args, limits: Limits, sizes: int | None = None) -> tuple[Binding, ...]:
    """One binding per arg, or several when the arg is larger than a binding may be. The
    symbolic sizes (arg `sizes`) are bound read-only: their values then count as uniform."""
    per_chunk = (limits.max_binding_bytes // OFFSET_ALIGN) * OFFSET_ALIGN // 4  # elements
    bindings = []
    for i, arg in enumerate(args):
        for start in range(0, arg.size, per_chunk):
            bindings.append(Binding(i, start, min(per_chunk, arg.size - start), arg.output, write=i != sizes))
    return tuple(bindings)


def dispatch_grid(workgroups: int, limits: Limits) -> tuple[int, int, int]:
    """Spread a 1-d count of workgroups over (x, y, z) within the per-dimension limit.
    Kernels recover the linear id as x + y * X + z * X * Y and skip ids >= workgroups."""
    cap = limits.max_workgroups_per_dim
    if workgroups <= cap:
        return (max(workgroups, 1), 1, 1)
    y = -(-workgroups // cap)
    if y <= cap:
        return (cap, y, 1)
    z = -(-y // cap)
    if z > cap:
        raise CompileError(f"A kernel needs {workgroups} workgroups, more than a dispatch of {cap} per "
                           f"dimension reaches; compile for a device with a higher maxComputeWorkgroupsPerDimension.")
    return (cap, cap, z)


@dataclass(frozen=True)
class Workgroups:
    """The dispatch of a kernel with symbolic sizes: `times * ceil(size / per)` workgroups in a
    line, which the runtime evaluates for each run's sizes and spreads over (x, y, z) as
    dispatch_grid does. Such a kernel always skips linear ids past its count, so any grid
    holding enough workgroups runs it."""
    size: "Sym | int"
    per: int
    times: int = 1

    def count(self, env: dict[str, int]) -> int:
        return self.times * -(-evaluate(self.size, env) // self.per)

    def grid(self, env: dict[str, int], limits: Limits) -> tuple[int, int, int]:
        """The dispatch for the sizes `env` ({dim: size})."""
        return dispatch_grid(self.count(env), limits)

    def to_json(self) -> dict:
        return {"groups": size_json(self.size), "per": self.per, "times": self.times}


def symbolic_dispatch(size, per: int, times: int, limits: Limits) -> Workgroups:
    """The dispatch of `times * ceil(size / per)` workgroups, checked at the largest sizes."""
    dispatch_grid(times * -(-upper(size) // per), limits)  # raises when the largest does not fit
    return Workgroups(size, per, times)


def dispatch_json(dispatch) -> list | dict:
    """A kernel's dispatch as the manifest holds it (docs/bundle.md, "WebGPU")."""
    return dispatch.to_json() if isinstance(dispatch, Workgroups) else list(dispatch)
