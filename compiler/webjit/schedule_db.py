"""The schedule database: what tuning learned, as JSON records keyed by (device fingerprint,
kernel signature), one file per device in a folder (`schedules/` of the checkout by default).

A record holds the winning config, its time and the default's time measured in the same
run, how many candidates were tried and which failed, and the compiler version. Lookups
match the exact signature first, then the coarser schedule key (kernels.schedule_key), so
a record tuned on one model serves the same kernel shape in another.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import WebjitError
from .kernels import KernelSpec, schedule_key, signature

FORMAT = "webjit-schedules"
FORMAT_VERSION = 1
CHECKOUT_RECORDS = Path(__file__).resolve().parents[2] / "schedules"  # the records the checkout keeps
PACKAGED_RECORDS = Path(__file__).resolve().parent / "schedules"  # the copy a wheel carries (setup.py)
# The records compile reads by default: an installed wheel's copy, else the checkout's.
SHIPPED = PACKAGED_RECORDS if PACKAGED_RECORDS.is_dir() else CHECKOUT_RECORDS


def writable_records() -> Path:
    """Where tune and merge write when not told: the checkout's schedules/, never an installed package."""
    if SHIPPED != CHECKOUT_RECORDS:
        raise ScheduleError("this webjit is installed, not run from a checkout: give the schedule database to "
                            "write with --db DIR (tune) or -o DIR (merge), and pass it to compile with --schedules DIR")
    return SHIPPED


class ScheduleError(WebjitError):
    """A schedule database file that cannot be read."""


@dataclass(frozen=True)
class Record:
    device: str  # the runtime's device fingerprint
    backend: str  # "wasm" | "webgpu"
    family: str
    signature: str
    schedule_key: str
    config: dict  # the winner (resolved)
    target: dict  # what the config was resolved for (WASM: threads, relaxed_simd)
    time_ms: float
    default_config: dict
    default_ms: float  # the default's time, measured in the same run
    candidates: int  # candidates measured
    failed: tuple[dict, ...] = ()  # {"config": ..., "reason": ...} of candidates that failed
    compiler: str = ""
    measured: str = ""  # ISO date and time

    @property
    def speedup(self) -> float:
        return self.default_ms / self.time_ms if self.time_ms > 0 else 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data["failed"] = list(self.failed)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Record":
        fields = set(cls.__dataclass_fields__)
        missing = [f for f in ("device", "backend", "family", "signature", "config", "time_ms", "default_ms")
                   if f not in data]
        if missing:
            raise ValueError(f"a record lacks {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in fields}
        values.setdefault("schedule_key", "")
        values.setdefault("target", {})
        values.setdefault("default_config", {})
        values.setdefault("candidates", 0)
        values["failed"] = tuple(values.get("failed", ()))
        return cls(**values)


@dataclass
class ScheduleDB:
    records: dict[tuple[str, str, str], Record] = field(default_factory=dict)  # (device, backend, signature)

    @classmethod
    def load(cls, *paths) -> "ScheduleDB":
        """Every *.json file of the folders, and the files named themselves (such as what a
        page's JIT exported); missing folders hold nothing."""
        db = cls()
        for path in map(Path, paths):
            if path.is_file():
                files = [path]
            elif path.is_dir():
                files = sorted(path.glob("*.json"))
            elif path.exists():
                raise ScheduleError(f"schedule database {path} is neither a folder nor a file")
            else:
                continue
            for file in files:
                for record in read_file(file):
                    db.add(record)
        return db

    def add(self, record: Record) -> None:
        """Keep, per (device, backend, signature), the record of the higher speedup over the
        default measured in its own run (a newer one wins a tie)."""
        key = (record.device, record.backend, record.signature)
        old = self.records.get(key)
        if old is None or record.speedup >= old.speedup:
            self.records[key] = record

    def merge(self, other: "ScheduleDB") -> None:
        for record in other.records.values():
            self.add(record)

    def lookup(self, backend: str, spec: KernelSpec) -> list[tuple[Record, str]]:
        """Per device, the record for `spec`: its exact signature, else the best record of
        the same schedule key; with how it matched ("signature" or "schedule key")."""
        exact, by_key = {}, {}
        sig, key = signature(spec), schedule_key(spec)
        for record in self.records.values():
            if record.backend != backend or record.family != spec.family:
                continue
            if record.signature == sig:
                exact[record.device] = record
            elif record.schedule_key == key:
                best = by_key.get(record.device)
                if best is None or record.speedup > best.speedup:
                    by_key[record.device] = record
        found = [(r, "signature") for r in exact.values()]
        found += [(r, "schedule key") for d, r in by_key.items() if d not in exact]
        return sorted(found, key=lambda item: item[0].device)

    def devices(self) -> list[str]:
        return sorted({r.device for r in self.records.values()})

    def save(self, folder) -> list[Path]:
        """One file per device, records sorted by backend and signature (stable diffs)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for device in self.devices():
            records = sorted((r for r in self.records.values() if r.device == device),
                             key=lambda r: (r.backend, r.signature))
            path = folder / f"{device_file_name(device)}.json"
            data = {"format": FORMAT, "format_version": FORMAT_VERSION, "device": device,
                    "records": [r.to_json() for r in records]}
            temp = path.with_suffix(".json.tmp")
            temp.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(temp, path)
            written.append(path)
        return written


def read_file(path: Path) -> list[Record]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ScheduleError(f"schedule file {path} cannot be read ({err}); fix or delete it") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ScheduleError(f"{path} is not a webjit schedule file (format is {data.get('format') if isinstance(data, dict) else None!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise ScheduleError(f"schedule file {path} has format version {data.get('format_version')}; "
                            f"this webjit reads version {FORMAT_VERSION}")
    try:
        return [Record.from_json(r) for r in data.get("records", [])]
    except (TypeError, ValueError) as err:
        raise ScheduleError(f"schedule file {path} holds a malformed record ({err}); fix or delete it") from None


def device_file_name(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", device).strip("-.") or "device"

