"""`webjit bench jit`: how fast the in-browser JIT makes a session, measured side by side.

    compile MODEL --jit                            the bundle a page would load
    webjit tune MODEL (same budget, same browser)  the offline-tuned bundle
    in one headless Chromium:
        the JIT bundle with tune: 'background'     use: run it back to back for SECONDS, every
                                                   run checked against onnxruntime
                                                   idle: no runs until tuning ends
        JIT session, offline-tuned, default        interleaved runs, minimum times
    results: JSON, a text summary and the time-to-fast chart (PNG)
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .driver import Driver
from .errors import RunError
from .feeds import make_inputs
from .pipeline import Options, compile as compile_model
from .runner import write_npy_folder
from .schedule_db import ScheduleDB
from .tune import tune

COMPARE_ROUNDS = 20
TOLERANCE = 1e-4  # of the largest |output|, every run


@dataclass
class JitBench:
    model: str
    backend: str
    device: str
    threads: int
    budget_s: float
    seconds: float
    runs: list  # per run of the use phase {at_ms, latency_ms, wait_ms, run_ms, tuning_slices, difference, ...}
    swaps: list
    tuning: dict  # at the end (after the idle phase)
    tuning_after_use: dict  # at the end of the use phase
    compare: dict  # name -> {min_ms, median_ms, difference}, after the use and idle phases
    first_ms: float  # the first runs of the JIT session (median of runs 2-6: past the warm-up)
    last_ms: float  # the last runs of the use phase (median of the last 20)
    time_to_95_s: float | None  # seconds of use until runs are within 95% of the offline-tuned speed
    idle_s: float  # how long the page stayed idle for tuning's second round
    offline_tuning_s: float
    load: str
    choices: list  # per tuned kernel {kernel, family, jit, offline}: the configs each chose

    @property
    def worst_difference(self) -> float:
        return max(r["difference"] for r in self.runs)

    def to_json(self) -> dict:
        return {**self.__dict__, "worst_difference": self.worst_difference}


def _reference(model: Path, manifest: dict, work: Path) -> None:
    import onnxruntime
    feeds = make_inputs(manifest, {})
    write_npy_folder(work / "inputs", feeds)
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    write_npy_folder(work / "reference", {o.name: v for o, v in zip(session.get_outputs(), outputs)})


def bench_jit(model, shapes, backend: str = "wasm", budget_s: float = 30.0, seconds: float = 45.0,
              out_dir=None, progress: Callable[[str], None] = lambda line: None) -> JitBench:
    """Measures the JIT against the first runs and against the offline-tuned bundle (same
    budget, same browser, same session); writes results into `out_dir` when given."""
    model = Path(model).resolve()
    with tempfile.TemporaryDirectory(prefix="webjit-jit-bench-") as temp:
        work = Path(temp)
        progress(f"compiling {model.name} with --jit for {backend}")
        bundle = compile_model(model, shapes, Options(backends=(backend,), jit=True))
        bundle.save(work / "jit")
        _reference(model, bundle.manifest, work)
        progress(f"tuning offline with webjit tune ({budget_s:g} s budget) for the comparison")
        began = time.perf_counter()
        tune(work / "jit", None, backend=backend, browser="chromium", budget_s=budget_s, db_dir=work / "db",
             compare=False, progress=lambda line: progress(f"  tune: {line}"))
        offline_s = time.perf_counter() - began
        compile_model(model, shapes, Options(backends=(backend,), schedules=ScheduleDB.load(work / "db"))).save(
            work / "offline")
        with Driver("chromium", backend, [work]) as driver:
            where = lambda name: driver.location(work / name)  # noqa: E731
            common = dict(backend=backend, inputs=where("inputs"))
            progress(f"running the JIT bundle with tune: 'background' for {seconds:g} s")
            jit = driver.call("open", bundle=where("jit"), tune="background", tuneBudgetMs=budget_s * 1000, **common)
            answer = driver.call("runs", session=jit["session"], seconds=seconds, reference=where("reference"))
            progress(f"  {len(answer['runs'])} runs, {answer['tuning']['swaps']} swaps, tuning "
                     f"{answer['tuning']['state']}: {answer['tuning']['note']}")
            idle = {"idle_ms": 0.0, "tuning": answer["tuning"], "kernels": answer["kernels"], "swaps": answer["swaps"]}
            if answer["tuning"]["state"] not in ("done", "cancelled", "failed", "off"):
                progress("leaving the page idle until tuning ends (its second round runs while the page is idle)")
                idle = driver.call("idle", session=jit["session"], seconds=budget_s + 60)
                progress(f"  {idle['idle_ms'] / 1000:.1f} s idle, {idle['tuning']['swaps']} swaps in all, tuning "
                         f"{idle['tuning']['state']}: {idle['tuning']['note']}")
            offline = driver.call("open", bundle=where("offline"), **common)
            default = driver.call("open", bundle=where("jit"), tune="off", **common)
            progress(f"JIT session, offline-tuned and default bundle: {COMPARE_ROUNDS} interleaved runs each")
            times = driver.call("compare", sessions=[jit["session"], offline["session"], default["session"]],
                                rounds=COMPARE_ROUNDS)
            compare = {name: {k: t[k] for k in ("min_ms", "median_ms", "difference")}
                       for name, t in zip(("jit", "offline", "default"), times)}
            runs = answer["runs"]
            firsts = sorted(r["latency_ms"] for r in runs[1:6]) or [jit["first_ms"]]
            fast = time_to_fast(runs, compare["offline"]["min_ms"] / 0.95)
            last = sorted(r["latency_ms"] for r in runs[-20:])
            result = JitBench(model.name, backend, jit["device"]["fingerprint"], jit["threads"], budget_s, seconds,
                              runs, idle["swaps"], idle["tuning"], answer["tuning"], compare, firsts[len(firsts) // 2],
                              last[len(last) // 2], fast, idle["idle_ms"] / 1000, offline_s, _load(),
                              _choices(idle["kernels"], offline["kernels"]))
            if out_dir is not None:
                out = Path(out_dir)
                out.mkdir(parents=True, exist_ok=True)
                name = model.parent.name if model.stem == "model" else model.stem  # the model cache's folders
                stem = out / f"jit-{name}-{backend}-chromium"
                stem.with_suffix(".json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
                stem.with_suffix(".txt").write_text(report_text(result) + "\n")
                driver.chart(chart_data(result), stem.with_suffix(".png"))
                progress(f"results: {stem}.json, .txt, .png")
    if result.worst_difference > TOLERANCE:
        raise RunError(f"a run of the JIT session differed from onnxruntime by {result.worst_difference:.3g} "
                       f"(more than {TOLERANCE:g} of the largest output)")
    return result


def time_to_fast(runs: list, target_ms: float, window: int = 5) -> float | None:
    """Seconds of use until the median of `window` consecutive runs is at most `target_ms`."""
    for i in range(window - 1, len(runs)):
        latest = sorted(r["latency_ms"] for r in runs[i - window + 1:i + 1])
        if latest[window // 2] <= target_ms:
            return runs[i]["at_ms"] / 1000
    return None


def _choices(jit: list, offline: list) -> list:
    return [{"kernel": a["id"], "family": a["family"], "jit": a["config"], "offline": b["config"]}
            for a, b in zip(jit, offline) if a["tuned"] or b["variant"]]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def chart_data(r: JitBench) -> dict:
    return {"runs": [{"at_ms": x["at_ms"], "latency_ms": x["latency_ms"]} for x in r.runs],
            "swaps": [{"at_ms": s["at_ms"]} for s in r.swaps],
            "levels": [{"label": "default bundle (min)", "ms": r.compare["default"]["min_ms"], "color": "#c53030"},
                       {"label": "offline-tuned bundle (min)", "ms": r.compare["offline"]["min_ms"], "color": "#2f855a"},
                       {"label": "JIT session, tuned (min)", "ms": r.compare["jit"]["min_ms"], "color": "#2b6cb0"}],
            "title": f"{r.model}, {r.backend}, {r.device}, {r.threads} threads: latency per run while the JIT "
                     f"tunes in the background",
            "note": r.load}


def report_text(r: JitBench) -> str:
    c = r.compare
    t = r.tuning
    lines = [
        f"{r.model} on {r.backend} in headless Chromium: {r.device}, {r.threads} thread(s); {r.load}",
        f"JIT session: {len(r.runs)} runs in {r.seconds:g} s, every run within {r.worst_difference:.2g} of "
        f"onnxruntime (relative to the largest output)",
        f"after {r.seconds:g} s of use: tuning {r.tuning_after_use['state']} ({r.tuning_after_use['note']}), "
        f"{r.tuning_after_use['candidates_measured']} candidates measured, {r.tuning_after_use['swaps']} swaps; "
        f"median of the last 20 runs {r.last_ms:.2f} ms",
        f"then idle for {r.idle_s:.1f} s: tuning {t['state']} ({t['note']}); "
        f"{t['candidates_measured']} of {t['candidates_total']} candidates "
        f"measured in {t['spent_ms'] / 1000:.1f} s of slices, {t['candidates_failed']} failed, {t['swaps']} swaps, "
        f"{t['kernels_done']} of {t['kernels_total']} kernels done",
        f"longest wait of a run {max(x['wait_ms'] for x in r.runs):.1f} ms; longest slices "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in t["longest_ms"].items())
        + f"; most slices one run waited for: {max(x['tuning_slices'] for x in r.runs)}",
        f"same session, {COMPARE_ROUNDS} interleaved runs each (min / median ms): JIT after use and idle "
        f"{c['jit']['min_ms']:.2f} / "
        f"{c['jit']['median_ms']:.2f}, offline-tuned {c['offline']['min_ms']:.2f} / {c['offline']['median_ms']:.2f}, "
        f"default {c['default']['min_ms']:.2f} / {c['default']['median_ms']:.2f}",
        f"first runs of the JIT session (median of runs 2-6): {r.first_ms:.2f} ms",
        f"JIT after use vs its first runs: {r.first_ms / c['jit']['min_ms']:.3f}x faster; "
        f"vs the default bundle: {c['default']['min_ms'] / c['jit']['min_ms']:.3f}x; "
        f"as fast as the offline-tuned bundle: {100 * c['offline']['min_ms'] / c['jit']['min_ms']:.1f}%",
        "within 95% of the offline-tuned speed (median of 5 runs in a row): "
        + (f"after {r.time_to_95_s:.1f} s of use" if r.time_to_95_s is not None else f"not in {r.seconds:g} s of use"),
        f"offline tuning (webjit tune, for the comparison) took {r.offline_tuning_s:.1f} s",
        f"kernels the JIT or webjit tune changed: {len(r.choices)}; the same config in both: "
        f"{sum(1 for c in r.choices if c['jit'] == c['offline'])}",
    ]
    return "\n".join(lines)
