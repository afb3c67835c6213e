"""`webjit tune`: measure the schedule space of a model's hottest kernels on the device that
runs them, keep the winners in the schedule database, and measure the tuned bundle against
the default one in the same run.

    profile the default bundle once          (runtime: session.profile)
    for the hottest kernels, within budget:  candidates = family.candidates(spec, target)
        generate them, then measure them     (runtime: session.measureCandidates, which
                                              checks every output before it times)
    records -> schedule database             (schedule_db)
    tuned bundle = the bundle + variants     (compile --schedules, or add_variants)
    default vs tuned, interleaved runs       (runtime, same page)
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import __version__
from .bundle import add_variants
from .driver import Driver
from .errors import RunError
from .feeds import make_inputs
from .kernels import schedule_key, spec_from_json
from .pipeline import Options, compile as compile_model
from .runner import write_npy_folder
from .schedule import families
from .schedule_db import Record, ScheduleDB
from .targets import Targets, WasmTarget
from .wasm.codegen import wasm_kernel
from .webgpu.codegen import wgsl_kernel

COMPARE_ROUNDS = 10  # interleaved whole-model runs of the default and the tuned bundle ...
COMPARE_S = 30.0  # ... fewer (at least 3) where 10 would take longer than this
# Compiling, checking and reading back one candidate, beside its runs: a WASM module
# compiles in milliseconds, a WGSL pipeline in 0.1-2 s on SwiftShader.
PER_CANDIDATE_OVERHEAD_S = {"wasm": 0.03, "webgpu": 0.15}
CANDIDATE_CALLS = 5  # two checked runs, a warm-up and two quick samples (timer.js)
REFINED = 4  # the quickest candidates of a kernel get a full timing of REPS_MS
REPS_MS = 20


@dataclass
class KernelResult:
    kernel: int
    family: str
    signature: str
    calls: int
    share: float  # of the default profile
    default_config: dict
    default_ms: float  # per call, best of the runs before and after the candidates
    best_config: dict
    best_ms: float
    tried: int  # candidates measured
    failed: list[dict] = field(default_factory=list)  # {"config", "stage", "reason"}
    skipped: int = 0  # candidates the budget left out

    @property
    def speedup(self) -> float:
        return self.default_ms / self.best_ms if self.best_ms > 0 else 0.0


@dataclass
class TuneReport:
    device: str
    backend: str
    browser: str
    threads: int
    kernels: list[KernelResult]
    generation_s: float  # generating every candidate
    candidates: int
    tuning_s: float  # profiling and measuring, what the budget bounds
    budget_s: float
    default_ms: float | None = None  # whole-model latency, default bundle
    tuned_ms: float | None = None  # whole-model latency, tuned bundle, same run
    difference: float | None = None  # the tuned outputs against the default's, relative to their largest
    rounds: int = 0  # interleaved runs of each bundle in the comparison
    variants_used: int = 0  # kernels the tuned session runs from its variants
    records: list[Path] = field(default_factory=list)
    profile_sum_ms: float = 0.0
    profile_run_ms: float = 0.0
    total_s: float = 0.0


def candidate_code(spec, backend: str, config, target):
    """(file suffix, bytes, extra manifest fields) of one candidate."""
    if backend == "wasm":
        return ".wasm", wasm_kernel(spec, config, target).code, {}
    kernel = wgsl_kernel(spec, config, target)
    return ".wgsl", kernel.source.encode(), {"entry": kernel.entry, "workgroup": list(kernel.workgroup),
                                             "dispatch": list(kernel.dispatch)}


def plan_candidates(spec, backend: str, target, current: dict) -> list:
    """The configs worth measuring for `spec`: the pruned space, cheapest estimate first,
    without the one the kernel runs now."""
    family = families(backend)[spec.family]
    return [c for c in family.candidates(spec, target) if family.config_to_json(c) != current]


def device_target(backend: str, session: dict, manifest: dict):
    """The target the tuner's candidates are generated for: what the session reported (WASM:
    threads, relaxed SIMD), within the limits the bundle was compiled for (WebGPU)."""
    if backend == "wasm":
        return WasmTarget(threads=int(session["threads"]),
                          relaxed_simd="relaxed-simd" in session["device"].get("features", []))
    return Targets.from_manifest(manifest).webgpu


def tune_kernels(driver: Driver, session: dict, manifest: dict, backend: str, budget_s: float, work: Path,
                 progress: Callable[[str], None], planner=plan_candidates) -> tuple[list[KernelResult], dict]:
    """Profiles the session, then measures candidates of its hottest kernels until the budget
    is spent; returns the per-kernel results and {generation_s, candidates, tuning_s, profile}."""
    start = time.perf_counter()
    deadline = start + budget_s
    target = device_target(backend, session, manifest)
    profile = driver.call("profile", session=session["session"], repeat=2)
    ranked = sorted(profile["kernels"], key=lambda k: -k["total_ms"])
    hot = [k for k in ranked if k["total_ms"] > 0 and len(families(backend)[k["family"]].space) > 1]
    generation_s, measured, results = 0.0, 0, []
    folder = work / "candidates"
    for rank, entry in enumerate(hot):
        left = deadline - time.perf_counter()
        if left <= 0.2:
            progress(f"budget spent; {len(hot) - rank} kernels left untuned")
            break
        # Each kernel gets the share of what is left that its time has of the kernels left.
        share_left = sum(k["total_ms"] for k in hot[rank:])
        kernel_s = left * entry["total_ms"] / share_left if share_left > 0 else left
        kernel = manifest["kernels"][entry["id"]]
        spec = spec_from_json(kernel["spec"])
        current = session["kernels"][entry["id"]]["config"]
        began = time.perf_counter()
        configs = planner(spec, backend, target, current)
        if not configs:
            progress(f"kernel {entry['id']} ({entry['family']}): its space has nothing else to try here")
            continue
        sample_s = max(0.5, entry["mean_ms"]) / 1000
        per_candidate_s = PER_CANDIDATE_OVERHEAD_S[backend] + CANDIDATE_CALLS * sample_s
        fixed_s = (REFINED + 2) * max(REPS_MS / 1000, 3 * sample_s)
        fit = max(1, int((kernel_s - fixed_s) / per_candidate_s))
        skipped = max(0, len(configs) - fit)
        candidates = _write_candidates(spec, backend, target, configs[:fit], folder / f"k{entry['id']}")
        generation_s += time.perf_counter() - began
        progress(f"kernel {entry['id']} ({entry['family']}, {100 * entry['share']:.1f}% of the run): "
                 f"{len(candidates)} of {len(configs)} candidates in {kernel_s:.1f} s")
        answer = driver.call("measure", session=session["session"], kernel=entry["id"], candidates=candidates,
                             source=driver.location(folder / f"k{entry['id']}"),
                             options={"budgetMs": max(1.0, min(kernel_s, deadline - time.perf_counter()) * 1000),
                                      "minTimeMs": REPS_MS, "refine": REFINED})
        measured += len(candidates)
        results.append(_kernel_result(entry, kernel, current, answer, skipped, candidates))
        best = results[-1]
        progress(f"  default {best.default_ms:.4g} ms, best {best.best_ms:.4g} ms "
                 f"({best.speedup:.2f}x), {len(best.failed)} failed")
    return results, {"generation_s": generation_s, "candidates": measured,
                     "tuning_s": time.perf_counter() - start, "profile": profile}


def _write_candidates(spec, backend: str, target, configs: list, folder: Path) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    family = families(backend)[spec.family]
    entries = []
    for j, config in enumerate(configs):
        config_json = family.config_to_json(config)
        try:
            suffix, code, extra = candidate_code(spec, backend, config, target)
        except Exception as err:  # noqa: BLE001 (a generator failure belongs to this candidate only)
            entries.append({"file": f"c{j}.failed", "bytes": 0, "sha256": "", "config": config_json,
                            "generate_error": f"{type(err).__name__}: {err}"})
            continue
        (folder / f"c{j}{suffix}").write_bytes(code)
        entries.append({"file": f"c{j}{suffix}", "bytes": len(code), "sha256": hashlib.sha256(code).hexdigest(),
                        "config": config_json, **extra})
    return entries


def _kernel_result(entry: dict, kernel: dict, current: dict, answer: dict, skipped: int,
                   candidates: list[dict]) -> KernelResult:
    failed = [{"config": c["config"], "stage": "generate", "reason": c["generate_error"]}
              for c in candidates if "generate_error" in c]
    best_config, best_ms = current, answer["current"]["min_ms"]
    tried = 0
    for result in answer["results"]:
        if result.get("skipped"):
            skipped += 1
            continue
        tried += 1
        if not result["ok"]:
            if not any(f["config"] == result["config"] for f in failed):
                failed.append({"config": result["config"], "stage": result.get("stage", "run"),
                               "reason": result.get("error", "")})
        elif 0 < result["min_ms"] < best_ms:
            best_config, best_ms = result["config"], result["min_ms"]
    return KernelResult(entry["id"], entry["family"], kernel["signature"], entry["calls"], entry["share"],
                        current, answer["current"]["min_ms"], best_config, best_ms, tried, failed, skipped)


def records_of(results: list[KernelResult], session: dict, backend: str, manifest: dict) -> list[Record]:
    """One record per tuned kernel (also where the default stayed best: no need to retune it)."""
    measured_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    target = {"threads": session["threads"],
              "relaxed_simd": "relaxed-simd" in session["device"].get("features", [])} if backend == "wasm" else {}
    records = []
    for r in results:
        spec = spec_from_json(manifest["kernels"][r.kernel]["spec"])
        records.append(Record(session["device"]["fingerprint"], backend, r.family, r.signature, schedule_key(spec),
                              r.best_config, target, r.best_ms, r.default_config, r.default_ms, r.tried,
                              tuple(r.failed), f"webjit {__version__}", measured_at))
    return records


def tune(model_or_bundle, shapes=None, backend: str = "wasm", browser: str = "chromium", budget_s: float = 30.0,
         db_dir=None, threads="auto", progress: Callable[[str], None] = lambda line: None,
         compare: bool = True, work_dir=None, planner=plan_candidates, dims=None,
         chromium: str | None = None) -> TuneReport:
    """Tunes a model (an .onnx file, compiled here with `shapes` and `dims`) or a compiled bundle
    on `backend` in `browser`, writes the records to `db_dir` and measures the tuned bundle."""
    began = time.perf_counter()
    source = Path(model_or_bundle)
    temp = tempfile.TemporaryDirectory(prefix="webjit-tune-") if work_dir is None else None
    work = Path(work_dir or temp.name).resolve()
    try:
        default_dir = _default_bundle(source, shapes, dims, backend, work, progress)
        manifest = json.loads((default_dir / "manifest.json").read_text())
        if backend not in manifest.get("backends", []):
            raise RunError(f"bundle {source} has no {backend} kernels; compile it with --backends {backend}")
        write_npy_folder(work / "inputs", make_inputs(manifest, {}))
        (work / "candidates").mkdir(exist_ok=True)
        with Driver(browser, backend, [work, default_dir], chromium=chromium) as driver:
            progress(f"loading the bundle in {browser} ({backend})")
            session = driver.call("open", bundle=driver.location(default_dir), backend=backend, threads=threads,
                                  inputs=driver.location(work / "inputs"))
            if session["backend"] != backend:
                raise RunError(f"the session runs on {session['backend']}, not {backend}: {session.get('backendNote')}")
            progress(f"device {session['device']['fingerprint']}, {session['threads']} thread(s)")
            results, stats = tune_kernels(driver, session, manifest, backend, budget_s, work, progress, planner)
            records = records_of(results, session, backend, manifest)
            db = ScheduleDB.load(db_dir) if db_dir else ScheduleDB()
            for record in records:
                db.add(record)
            written = db.save(db_dir) if db_dir else []
            report = TuneReport(session["device"]["fingerprint"], backend, browser, session["threads"], results,
                                stats["generation_s"], stats["candidates"], stats["tuning_s"], budget_s,
                                records=written, profile_sum_ms=stats["profile"]["sum_ms"])
            if compare and not any(r.best_config != r.default_config for r in results):
                progress("no kernel found a faster schedule: nothing to compare")
            elif compare:
                tuned_db = ScheduleDB()
                for record in records:
                    tuned_db.add(record)
                tuned_dir = _tuned_bundle(source, shapes, dims, backend, default_dir, tuned_db, work, progress)
                tuned = driver.call("open", bundle=driver.location(tuned_dir), backend=backend, threads=threads,
                                    inputs=driver.location(work / "inputs"))
                report.variants_used = sum(1 for k in tuned["kernels"] if k["variant"] not in (None, "*"))
                run_s = stats["profile"]["run_ms"] / 1000
                report.rounds = max(3, min(COMPARE_ROUNDS, int(COMPARE_S / max(2 * run_s, 1e-3))))
                progress(f"default vs tuned bundle, {report.rounds} interleaved runs each")
                default_t, tuned_t = driver.call("compare", sessions=[session["session"], tuned["session"]],
                                                 rounds=report.rounds)
                report.default_ms, report.tuned_ms = default_t["min_ms"], tuned_t["min_ms"]
                report.difference = tuned_t["difference"]
        report.total_s = time.perf_counter() - began
        return report
    finally:
        if temp is not None:
            temp.cleanup()


def _default_bundle(source: Path, shapes, dims, backend: str, work: Path, progress) -> Path:
    if source.is_dir():
        return source.resolve()
    progress(f"compiling {source.name} for {backend}")
    bundle = compile_model(source, shapes, Options(backends=(backend,)), dims)
    bundle.save(work / "default")
    return work / "default"


def _tuned_bundle(source: Path, shapes, dims, backend: str, default_dir: Path, db: ScheduleDB, work: Path,
                  progress) -> Path:
    """The default bundle with the records as variants: compiled again from the model with
    the records (the path `webjit compile --schedules` takes), or, for a bundle, the bundle
    copied with variants added."""
    target = work / "tuned"
    if source.is_dir():
        progress("adding the tuned variants to a copy of the bundle")
        add_variants(default_dir, target, db)
        return target
    progress("compiling the tuned bundle with the new records")
    compile_model(source, shapes, Options(backends=(backend,), schedules=db), dims).save(target)
    return target


def report_text(report: TuneReport) -> str:
    """The per-kernel table and the whole-model comparison, as `webjit tune` prints them."""
    lines = [f"tuned on {report.device} ({report.backend} in {report.browser}, {report.threads} thread(s))",
             f"{'kernel':>6} {'family':<11} {'calls':>5} {'share':>6} {'default ms':>10} {'best ms':>9} "
             f"{'speedup':>7} {'tried':>5} {'failed':>6}  best config / signature"]
    for r in report.kernels:
        config = describe_config(r.best_config) if r.best_config != r.default_config else "(default)"
        lines.append(f"{r.kernel:>6} {r.family:<11} {r.calls:>5} {100 * r.share:>5.1f}% {r.default_ms:>10.4g} "
                     f"{r.best_ms:>9.4g} {r.speedup:>6.2f}x {r.tried:>5} {len(r.failed):>6}  {config}")
        lines.append(f"{'':>6} {short_signature(r.signature)}")
    lines.append(f"{report.candidates} candidates generated in {report.generation_s:.3f} s; profiling and "
                 f"measuring took {report.tuning_s:.1f} s of the {report.budget_s:g} s budget")
    if report.default_ms is not None:
        lines.append(f"whole model, same run, min of {report.rounds}: default {report.default_ms:.2f} ms, "
                     f"tuned {report.tuned_ms:.2f} ms ({report.default_ms / report.tuned_ms:.3f}x); "
                     f"{report.variants_used} kernels run tuned variants; outputs within "
                     f"{report.difference:.2g} of the default's")
    for path in report.records:
        lines.append(f"records: {path}")
    lines.append(f"total {report.total_s:.1f} s")
    return "\n".join(lines)


def short_signature(signature: str, width: int = 110) -> str:
    return signature if len(signature) <= width else signature[:width - 3] + "..."


def describe_config(config: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in config.items()) or "-"

