"""`webjit run --profile`: the time of every kernel of a bundle, measured by the runtime's
kernel timer (runtime_web/src/timer.js) in Node or headless Chromium."""
from __future__ import annotations

import tempfile
from pathlib import Path

from .driver import Driver
from .runner import write_npy_folder


def profile_bundle(bundle_dir, feeds: dict, backend: str = "wasm", browser: str = "chromium",
                   threads="auto", repeat: int = 3, timeout_s: float = 300.0) -> dict:
    """The runtime's profile (per kernel: calls, total, mean, share, GFLOP/s; min over `repeat`
    profiled runs) and, measured in the same session, the whole run's median latency."""
    bundle_dir = Path(bundle_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="webjit-profile-") as temp:
        inputs = Path(temp) / "inputs"
        write_npy_folder(inputs, feeds)
        with Driver(browser, backend, [Path(temp), bundle_dir], timeout_s) as driver:
            session = driver.call("open", bundle=driver.location(bundle_dir), backend=backend, threads=threads,
                                  inputs=driver.location(inputs))
            profile = driver.call("profile", session=session["session"], repeat=repeat)
            run = driver.call("run", session=session["session"], repeat=repeat)
    return {**profile, "threads": session["threads"], "thread_note": session.get("threadNote"),
            "backend_note": session.get("backendNote"), "run_ms": run["latency_ms"], "run_min_ms": run["min_ms"],
            "browser": browser}


def profile_text(profile: dict, width: int = 60) -> str:
    """The kernels, slowest first, and how their sum compares with a measured run."""
    lines = [f"profile: {profile['browser']} {profile['backend']}, {profile['threads']} thread(s), "
             f"device {profile['device']}",
             f"{'kernel':>6} {'family':<11} {'calls':>5} {'total ms':>9} {'mean ms':>9} {'share':>6} "
             f"{'GFLOP/s':>8}  signature"]
    for k in sorted(profile["kernels"], key=lambda k: -k["total_ms"]):
        rate = f"{k['gflops']:8.1f}" if k["gflops"] else f"{'':>8}"
        signature = k["signature"] if len(k["signature"]) <= width else k["signature"][:width - 3] + "..."
        lines.append(f"{k['id']:>6} {k['family']:<11} {k['calls']:>5} {k['total_ms']:>9.3f} {k['mean_ms']:>9.4f} "
                     f"{100 * k['share']:>5.1f}% {rate}  {signature}")
    total, run = profile["sum_ms"], profile["run_ms"]
    lines.append(f"kernels sum to {total:.2f} ms; a whole run takes {run:.2f} ms (median), "
                 f"{run_share(profile):+.1f}% outside the kernels (inputs, outputs, dispatch)")
    return "\n".join(lines)


def run_share(profile: dict) -> float:
    """How much of a measured run the kernel times leave out, in percent of the run."""
    run = profile["run_ms"]
    return 100 * (run - profile["sum_ms"]) / run if run > 0 else 0.0
