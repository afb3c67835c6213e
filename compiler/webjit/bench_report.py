"""What `webjit bench` writes (engine_bench.py measures): the JSON, the markdown tables (latency
ratios, MatMul GFLOP/s against the rooflines, memory) and the PNG charts, drawn by the bench
page's bars (runtime_web/bench/bars.js)."""
from __future__ import annotations

import json
from pathlib import Path

from .driver import Driver

NOT_MEASURABLE = "not measurable"  # a memory figure the page cannot see (the JSON says so instead of a number)
SOFTWARE_GPU = "SwiftShader, a software GPU on the CPU: its numbers predict nothing about real GPUs"


def row_text(row: dict) -> str:
    where = f"{row['engine']}" + (f" {row['threads']}t" if row.get("threads") else "")
    if "error" in row:
        return f"{row['model']} {where}: {row['error']}"
    return (f"{row['model']} {where}: load {row['load_ms']:.0f} ms, first {row['first_ms']:.1f} ms, "
            f"median {row['median_ms']:.2f} ms, min {row['min_ms']:.2f} ms, error {row['max_error']:.1e}")


def gpu_roofline_text(gpu: dict) -> str:
    if "missing" in gpu:
        return f"WebGPU roofline: not measured: {gpu['missing']}"
    adapter = ", ".join(v for v in gpu["adapter"].values() if v) or "unnamed adapter"
    return (f"WebGPU roofline: {gpu['gflops']:.1f} GFLOP/s fma on {adapter} ({gpu['timer']})"
            + (f"; {SOFTWARE_GPU}" if gpu.get("software") else ""))


def ratio_table(results: dict) -> str:
    """Per model, backend and thread count: both engines' minimum and onnxruntime-web / webjit."""
    rows = {(r["model"], r["engine"], r.get("threads")): r for r in results["rows"] if "error" not in r}
    lines = ["| model | backend | threads | webjit min (ms) | onnxruntime-web min (ms) | ratio | webjit load (ms) | "
             "ort session (ms) | webjit error | ort error |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    models = list(dict.fromkeys(r["model"] for r in results["rows"]))
    for model in models:
        for backend in ("wasm", "webgpu"):
            for threads in sorted({r.get("threads") for r in results["rows"]} - {None}) if backend == "wasm" else [None]:
                ours, theirs = rows.get((model, f"webjit-{backend}", threads)), rows.get((model, f"ort-{backend}", threads))
                if not ours and not theirs:
                    continue
                cell = lambda r, k, f: f.format(r[k]) if r and r.get(k) is not None else "-"
                ratio = f"{theirs['min_ms'] / ours['min_ms']:.2f}x" if ours and theirs else "-"
                lines.append(f"| {model} | {backend} | {threads or '-'} | {cell(ours, 'min_ms', '{:.1f}')} | "
                             f"{cell(theirs, 'min_ms', '{:.1f}')} | {ratio} | {cell(ours, 'load_ms', '{:.0f}')} | "
                             f"{cell(theirs, 'load_ms', '{:.0f}')} | {cell(ours, 'max_error', '{:.1e}')} | "
                             f"{cell(theirs, 'max_error', '{:.1e}')} |")
    return "\n".join(lines) + "\n"


def roofline_rows(results: dict) -> list[dict]:
    """Per webjit row with a profile: MatMul GFLOP/s and its fraction of each peak it is measured
    against (WASM: mul+add and fma at its thread count; WebGPU: the adapter's fma loop)."""
    peak = {(r["kind"], r["threads"]): r["gflops"] for r in results["roofline"]}
    gpu = results.get("webgpu_roofline") or {}
    rows = []
    for r in results["rows"]:
        p = r.get("profile")
        if not r["engine"].startswith("webjit-") or not p or p["matmul_gflops"] is None:
            continue
        backend, g = r["engine"].split("-")[1], p["matmul_gflops"]
        fractions = ({"mul+add": g / peak[("mul+add", r["threads"])] if ("mul+add", r["threads"]) in peak else None,
                      "fma": g / peak[("relaxed fma", r["threads"])] if ("relaxed fma", r["threads"]) in peak else None}
                     if backend == "wasm" else {"webgpu": g / gpu["gflops"] if gpu.get("gflops") else None})
        rows.append({"model": r["model"], "backend": backend, "threads": r["threads"], "gflops": g,
                     "fractions": fractions, "outside": 1 - p["matmul_share"], "timer": p.get("timer")})
    return rows


def figure(value: float) -> str:
    """GFLOP/s to one decimal, or three significant digits under 1 (small models on SwiftShader)."""
    return f"{value:.1f}" if value >= 1 else f"{value:.3g}"


def roofline_table(results: dict) -> str:
    percent = lambda v: "-" if v is None else f"{v:.0%}" if v >= 0.01 else f"{v:.2%}"
    lines = ["| model | backend | threads | MatMul GFLOP/s (time-weighted) | of mul+add peak | of fma peak | "
             "of WebGPU fma peak | time outside MatMul |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in sorted(roofline_rows(results), key=lambda r: r["backend"] == "webgpu"):
        f = row["fractions"]
        lines.append(f"| {row['model']} | {row['backend']} | {row['threads'] or '-'} | {figure(row['gflops'])} | "
                     f"{percent(f.get('mul+add'))} | {percent(f.get('fma'))} | {percent(f.get('webgpu'))} | "
                     f"{row['outside']:.1%} |")
    return "\n".join(lines) + "\n"


def megabytes(value) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value / 2 ** 20:.1f}"


def memory_table(results: dict) -> str:
    """Per model, engine and thread count: JS heap, WASM memory and peak GPU buffer bytes (MiB);
    "-" where the engine has none of that kind, "not measurable" where the page cannot see it."""
    lines = ["| model | engine | threads | JS heap (MiB) | WASM memory (MiB) | GPU buffers, peak (MiB) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results["rows"]:
        if "error" in r:
            continue
        lines.append(f"| {r['model']} | {r['engine']} | {r.get('threads') or '-'} | {megabytes(r.get('js_heap_bytes'))} | "
                     f"{megabytes(r.get('wasm_memory_bytes'))} | {megabytes(r.get('gpu_buffer_peak_bytes'))} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict, out: Path, driver: Driver) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench-{results['size']}-chromium"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    text = (f"# webjit bench, {results['date']}\n\nmachine: {results['machine']}; load average before "
            f"{results['load_average_before'][0]:.2f}, after {results['load_average_after'][0]:.2f}\n\n"
            + ratio_table(results) + "\n" + roofline_table(results) + "\n"
            + gpu_roofline_text(results.get("webgpu_roofline") or {"missing": "not run"}) + "\n\n"
            + memory_table(results))
    stem.with_suffix(".md").write_text(text)
    models = list(dict.fromkeys(r["model"] for r in results["rows"]))
    roofline_chart(results, models, stem, driver)
    colors = {"webjit-wasm": "#1f6feb", "ort-wasm": "#d1242f", "webjit-webgpu": "#1f6feb", "ort-webgpu": "#d1242f"}
    for backend in ("wasm", "webgpu"):  # one chart each: SwiftShader's times would dwarf the CPU's
        series = []
        for engine in (f"webjit-{backend}", f"ort-{backend}"):
            for threads in sorted({r.get("threads") for r in results["rows"]} - {None}) if backend == "wasm" else [None]:
                values = []
                for model in models:
                    row = next((r for r in results["rows"] if r["model"] == model and r["engine"] == engine
                                and r.get("threads") == threads and "error" not in r), None)
                    values.append(row["min_ms"] if row else None)
                if any(v is not None for v in values):
                    series.append({"label": engine + (f" {threads}t" if threads else ""), "values": values,
                                   "color": colors[engine], "light": bool(threads and threads > 1)})
        if series:
            note = results["machine"] + ("; SwiftShader, a software GPU: predicts nothing about real GPUs"
                                         if backend == "webgpu" else "")
            driver.chart({"title": f"{backend}: minimum latency per model (ms, lower is better; each model to its own scale)",
                          "groups": models, "series": series, "note": note},
                         stem.with_name(f"{stem.name}-{backend}.png"), page="bench/bars.html")


def roofline_chart(results: dict, models: list[str], stem: Path, driver: Driver) -> None:
    """Bars of MatMul GFLOP/s as a percentage of each peak, per model (-roofline.png)."""
    rows = roofline_rows(results)
    palette = {("wasm", "mul+add"): "#1f6feb", ("wasm", "fma"): "#8250df", ("webgpu", "webgpu"): "#1a7f37"}
    series = []
    for (backend, kind), color in palette.items():
        for threads in sorted({r["threads"] for r in rows if r["backend"] == backend}, key=lambda t: t or 0):
            values = []
            for model in models:
                row = next((r for r in rows if r["model"] == model and r["backend"] == backend
                            and r["threads"] == threads), None)
                value = row and row["fractions"].get(kind)
                values.append(None if value is None else 100 * value)
            if any(v is not None for v in values):
                label = (f"wasm of {kind} {threads}t" if backend == "wasm" else "webgpu of the adapter's fma")
                series.append({"label": label, "values": values, "color": color, "light": bool(threads and threads > 1)})
    if series:
        gpu = results.get("webgpu_roofline") or {}
        note = results["machine"] + (f"; WebGPU: {SOFTWARE_GPU}" if gpu.get("software") else "")
        driver.chart({"title": "MatMul GFLOP/s as % of the measured peak (higher is better)", "groups": models,
                      "series": series, "note": note, "shared": True}, stem.with_name(f"{stem.name}-roofline.png"),
                     page="bench/bars.html")


def write_json_and_table(results: dict, stem: Path, command: str, how: str, table: str) -> None:
    """`stem`.json (the results) and `stem`.md: a head naming `command`, the machine, the date,
    the load seen before and after and `how` the numbers were taken, then `table`."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    head = (f"`{command}` on {results['machine']}, {results['date']} (load average before "
            f"{results['load_average_before'][0]:.2f}, after {results['load_average_after'][0]:.2f}; {how})\n\n")
    stem.with_suffix(".md").write_text(head + table)
