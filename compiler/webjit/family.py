"""A kernel family's schedule record for one backend: its config type, the literal space
the tuner measures, the constraints that prune it (a simple hardware model), the default,
the resolution of "automatic" fields, the cost estimate that ranks candidates, and the
generator. Each backend lists its records in one explicit table (wasm/codegen.py,
webgpu/codegen.py); the schedule stage (schedule.py) and the tuner read only this record.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from .errors import CompileError


@dataclass(frozen=True)
class Constraint:
    """One stated rule of the pruning. `hard` rules are device limits (a config breaking one
    cannot run); the others only say a config is not worth measuring on this spec."""
    name: str
    holds: Callable[[Any, Any, Any], bool]  # (config, spec, target) -> bool
    hard: bool = False


@dataclass(frozen=True)
class NoConfig:
    """The config of a family with nothing to choose (one point: its generator's only form)."""


@dataclass(frozen=True)
class Family:
    name: str  # the spec family
    backend: str
    config: type
    space: tuple  # literal list of configs
    constraints: tuple[Constraint, ...]
    default: Callable[[Any, Any], Any]  # (spec, target) -> config
    resolve: Callable[[Any, Any, Any], Any]  # (config, spec, target) -> config with every field explicit
    emit: Callable[[Any, Any, Any], Any]  # (spec, resolved config, target) -> kernel
    cost: Callable[[Any, Any, Any], float] = lambda config, spec, target: 0.0  # lower is faster
    requires: Callable[[Any], tuple[str, ...]] = lambda config: ()  # engine features, e.g. "relaxed-simd"
    # (config, target) -> (config, target): the same schedule using an optional engine
    # feature, shipped as a form for every device that has it; None where there is none
    accelerated: Callable[[Any, Any], tuple[Any, Any] | None] = lambda config, target: None

    def violated(self, config, spec, target, hard_only: bool = False) -> list[str]:
        """Names of the constraints `config` breaks on `spec` for `target`."""
        return [c.name for c in self.constraints
                if (c.hard or not hard_only) and not c.holds(config, spec, target)]

    def fits(self, config, spec, target) -> bool:
        return not self.violated(config, spec, target)

    def candidates(self, spec, target) -> list:
        """The space resolved for `spec`, pruned and deduplicated, cheapest estimate first.

        Resolution comes first (it clips sizes to the spec and the device), so points that
        resolve to one config are measured once. When the pruning leaves nothing (a shape no
        point of the space suits), the configs that merely run on the device are kept."""
        resolved = list(dict.fromkeys(self.resolve(c, spec, target) for c in self.space))
        fitting = [c for c in resolved if self.fits(c, spec, target)]
        if not fitting:
            fitting = [c for c in resolved if not self.violated(c, spec, target, hard_only=True)]
        return sorted(fitting, key=lambda c: self.cost(c, spec, target))

    def default_config(self, spec, target):
        """The resolved default; a CompileError when the device can run no config at all."""
        config = self.default(spec, target)
        if config is not None:
            config = self.resolve(config, spec, target)
        if config is None or self.violated(config, spec, target, hard_only=True):
            runnable = self.candidates(spec, target)
            if not runnable or self.violated(runnable[0], spec, target, hard_only=True):
                raise CompileError(f"No {self.backend} {self.name} schedule fits this device "
                                   f"({target.to_json()}); use the other backend.")
            return runnable[0]
        return config

    def generate(self, spec, config, target):
        """The kernel of `spec` with `config`, which must be resolved for it (else a CompileError)."""
        if self.resolve(config, spec, target) != config:
            raise CompileError(f"{self.backend} {self.name} config {describe(config)} is not resolved for this "
                               f"kernel; pass it through the family's resolve first.")
        return self.emit(spec, config, target)

    def config_to_json(self, config) -> dict:
        """The config's fields, less the `quiet` ones that hold their default."""
        return {f.name: getattr(config, f.name) for f in shown_fields(config)}

    def config_from_json(self, data) -> Any:
        """The config a record or manifest wrote; a ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"a {self.backend} {self.name} config must be an object, not {data!r}")
        fields = {f.name: f for f in dataclasses.fields(self.config)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError(f"a {self.backend} {self.name} config has no field {', '.join(sorted(unknown))}")
        try:
            return self.config(**{k: type(getattr(self.config(), k))(v) for k, v in data.items()})
        except (TypeError, ValueError) as err:
            raise ValueError(f"a {self.backend} {self.name} config is malformed ({err})") from None


def describe(config) -> str:
    """A short stable text of a config: `mr=4 nr=8 ...` (or `-` when there is nothing to choose).
    Fields marked `quiet` in their metadata are left out while they hold their default."""
    parts = [f"{f.name}={getattr(config, f.name)}" for f in shown_fields(config)]
    return " ".join(parts) or "-"


def shown_fields(config) -> list:
    """A config's fields as JSON and text give them: a field marked `quiet` in its metadata
    (a path only some specs have) is left out while it holds its default."""
    return [f for f in dataclasses.fields(config)
            if not (f.metadata.get("quiet") and getattr(config, f.name) == f.default)]


def single(name: str, backend: str, emit: Callable[[Any, Any], Any]) -> Family:
    """The record of a family with one schedule (NoConfig): nothing to choose or tune.
    `emit` is the generator (spec, config) -> kernel."""
    return Family(name, backend, NoConfig, (NoConfig(),), (), lambda spec, target: NoConfig(),
                  lambda config, spec, target: config, lambda spec, config, target: emit(spec, config))
