"""`webjit run --profile`: the time of every kernel of a bundle, measured by the runtime's
kernel timer (runtime_web/src/timer.js) in Node or headless Chromium."""
from __future__ import annotations

import tempfile
from pathlib import Path

from .driver import Driver
from .runner import write_npy_folder


def profile_bundle(bundle_dir, feeds: dict, backend: str = "wasm", browser: str = "chromium",
                   threads="auto", repeat: int = 3, timeout_s: float = 300.0, chromium: str | None = None) -> dict:
    """The runtime's profile (per kernel: calls, total, mean, share, GFLOP/s; min over `repeat`
    profiled runs; the fastest profiled run whole and the sum of its steps) and, measured in
    the same session, the median latency of plain runs."""
    bundle_dir = Path(bundle_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="webjit-profile-") as temp:
        inputs = Path(temp) / "inputs"
        write_npy_folder(inputs, feeds)
        with Driver(browser, backend, [Path(temp), bundle_dir], timeout_s, chromium=chromium) as driver:
            session = driver.call("open", bundle=driver.location(bundle_dir), backend=backend, threads=threads,
                                  inputs=driver.location(inputs))
            profile = driver.call("profile", session=session["session"], repeat=repeat)
            run = driver.call("run", session=session["session"], repeat=repeat)
    return {**profile, "threads": session["threads"], "thread_note": session.get("threadNote"),
            "backend_note": session.get("backendNote"), "latency_ms": run["latency_ms"], "browser": browser}


def profile_text(profile: dict, width: int = 60) -> str:
    """The kernels, slowest first, and how their sum compares with a measured run."""
    lines = [f"profile: {profile['browser']} {profile['backend']}, {profile['threads']} thread(s), "
             f"device {profile['device']}, timed by {profile['timer']}",
             f"{'kernel':>6} {'family':<11} {'calls':>5} {'total ms':>9} {'mean ms':>9} {'share':>6} "
             f"{'GFLOP/s':>8}  signature"]
    for k in sorted(profile["kernels"], key=lambda k: -k["total_ms"]):
        rate = f"{k['gflops']:8.1f}" if k["gflops"] else f"{'':>8}"
        signature = k["signature"] if len(k["signature"]) <= width else k["signature"][:width - 3] + "..."
        lines.append(f"{k['id']:>6} {k['family']:<11} {k['calls']:>5} {k['total_ms']:>9.3f} {k['mean_ms']:>9.4f} "
                     f"{100 * k['share']:>5.1f}% {rate}  {signature}")
    if profile.get("skipped"):
        lines.append(f"steps left out: {', '.join(map(str, profile['skipped']))} (the Im2Col steps of convolutions "
                     f"running an implicit GEMM)")
    lines.append(f"kernels sum to {profile['sum_ms']:.2f} ms (the fastest of each step over the profiled runs); "
                 f"the fastest profiled run took {profile['run_ms']:.2f} ms whole, its steps {profile['run_steps_ms']:.2f} "
                 f"ms ({outside_share(profile):+.1f}% outside the kernels: inputs, waking the workers, dispatch); "
                 f"a plain run takes {profile['latency_ms']:.2f} ms (median)")
    return "\n".join(lines)


def outside_share(profile: dict) -> float:
    """How much of the fastest profiled run its kernel times leave out, in percent of the run."""
    run = profile["run_ms"]
    return 100 * (run - profile["run_steps_ms"]) / run if run > 0 else 0.0
