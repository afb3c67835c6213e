"""The schedule stage: for every distinct kernel and backend, the config it is generated
with (a heuristic default, which runs everywhere) and the variants tuned for known devices
(records of the schedule database), each with where it came from.

    kernels = distinct_kernels(program)
    schedules = choose_schedules(kernels, backends, targets, db)
    schedule_text(kernels, schedules)        # schedule.txt of --dump
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .family import Family, describe
from .kernels import KernelSpec, spec_text
from .lower import Program
from .schedule_db import Record, ScheduleDB
from .targets import Targets, WasmTarget
from .verify import verify
from .wasm.codegen import FAMILIES as WASM_FAMILIES
from .webgpu.codegen import FAMILIES as WEBGPU_FAMILIES


@dataclass(frozen=True)
class Kernel:
    """One distinct kernel of a program and the steps that run it."""
    spec: KernelSpec
    steps: tuple[int, ...]


ANY_DEVICE = "*"  # a variant's device for a form every device with its required features runs


@dataclass(frozen=True)
class Choice:
    config: object  # resolved
    source: str  # "default", "db" for a database record, "feature" for an accelerated form
    target: object  # the target the config was resolved for
    device: str | None = None  # the device fingerprint a variant is for (None: the default; "*": any device)
    record: Record | None = None
    match: str = ""  # "signature" or "schedule key" for db choices
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """The choices of one kernel on one backend: the default and per-device variants."""
    family: Family
    default: Choice
    variants: tuple[Choice, ...] = ()
    skipped: tuple[str, ...] = ()  # records that could not be used, each with its reason


def distinct_kernels(program: Program) -> list[Kernel]:
    """Identical specs share one kernel; kernels in order of first use."""
    steps: dict[KernelSpec, list[int]] = {}
    for i, step in enumerate(program.steps):
        steps.setdefault(step.spec, []).append(i)
    return [Kernel(spec, tuple(used)) for spec, used in steps.items()]


def families(backend: str) -> dict[str, Family]:
    """The family records of a backend, by spec family."""
    return WASM_FAMILIES if backend == "wasm" else WEBGPU_FAMILIES


def choose_schedules(kernels: list[Kernel], backends: tuple[str, ...], targets: Targets,
                     db: ScheduleDB) -> list[dict[str, Schedule]]:
    """Per kernel, per backend: the default config and the database's variants."""
    chosen = []
    for kernel in kernels:
        verify(kernel.spec)
        chosen.append({backend: choose(kernel.spec, backend, targets.of(backend), db) for backend in backends})
    return chosen


def choose(spec: KernelSpec, backend: str, target, db: ScheduleDB) -> Schedule:
    family = families(backend)[spec.family]
    default = Choice(family.default_config(spec, target), "default", target)
    default = _with_requires(family, default)
    feature = accelerated_choice(family, spec, default)
    variants, skipped = [], []
    for record, match in db.lookup(backend, spec):
        try:
            variant = record_choice(family, spec, target, record, match)
        except ValueError as err:
            skipped.append(f"{record.device}: {err}")
            continue
        # the same resolved config is the same code: that device runs it without a variant
        if variant.config != default.config and (feature is None or variant.config != feature.config):
            variants.append(variant)
    if feature is not None:
        variants.append(feature)
    return Schedule(family, default, tuple(variants), tuple(skipped))


def accelerated_choice(family: Family, spec: KernelSpec, default: Choice) -> Choice | None:
    """The default's schedule with an optional engine feature (family.accelerated), as a form
    for every device ("*") whose engine has it; None where the family has none or it does not fit."""
    found = family.accelerated(default.config, default.target)
    if found is None:
        return None
    config, target = found
    config = family.resolve(config, spec, target)
    if config == default.config or family.violated(config, spec, target, hard_only=True):
        return None
    return _with_requires(family, Choice(config, "feature", target, device=ANY_DEVICE))


def record_choice(family: Family, spec: KernelSpec, target, record: Record, match: str) -> Choice:
    """The variant a record gives `spec`; a ValueError saying why it does not apply."""
    config = family.config_from_json(record.config)
    record_target = target
    if family.backend == "wasm":  # resolved for the device the record was measured on
        record_target = WasmTarget(threads=int(record.target.get("threads", target.threads)),
                                   relaxed_simd=bool(record.target.get("relaxed_simd", False)))
    broken = family.violated(config, spec, record_target, hard_only=True)
    if broken:
        raise ValueError(f"config {describe(config)} cannot run here ({'; '.join(broken)})")
    resolved = family.resolve(config, spec, record_target)
    if resolved != config and match == "signature":
        raise ValueError(f"config {describe(config)} is not resolved for this kernel")
    choice = Choice(resolved, "db", record_target, record.device, record, match)
    return _with_requires(family, choice)


def _with_requires(family: Family, choice: Choice) -> Choice:
    return replace(choice, requires=tuple(family.requires(choice.config)))


def schedule_text(kernels: list[Kernel], schedules: list[dict[str, Schedule]]) -> str:
    """Per distinct kernel: its signature, the steps using it, and each backend's choices."""
    lines = []
    for i, (kernel, by_backend) in enumerate(zip(kernels, schedules)):
        steps = ",".join(map(str, kernel.steps[:8])) + (",..." if len(kernel.steps) > 8 else "")
        lines.append(f"k{i} {kernel.spec.family} steps {steps}: {spec_text(kernel.spec)}")
        for backend, schedule in by_backend.items():
            lines.append(f"  {backend}: {describe(schedule.default.config)}  [default{_requires(schedule.default)}]")
            for variant in schedule.variants:
                record = variant.record
                why = (f"db by {variant.match}, {record.time_ms:.4g} ms vs default {record.default_ms:.4g} ms"
                       if record else "any device with the feature")
                lines.append(f"  {backend} on {variant.device}: {describe(variant.config)}  [{why}{_requires(variant)}]")
            for reason in schedule.skipped:
                lines.append(f"  {backend}: record ignored: {reason}")
    return "\n".join(lines) + "\n"


def _requires(choice: Choice) -> str:
    return f", requires {', '.join(choice.requires)}" if choice.requires else ""

