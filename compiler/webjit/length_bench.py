"""`webjit bench lengths`: one bundle compiled for a range of sequence lengths (`--dim
seq=1..512`) against the fixed-length bundle a page would otherwise pad every input to, and
against onnxruntime-web at the real length, side by side in one headless Chromium.

Per thread count and length L: the symbolic bundle runs the inputs of length L; the fixed
bundle (compiled for the longest length asked for) runs them padded to its length, which is
what a page pays without symbolic sizes; onnxruntime-web runs the same ONNX file at L. Each
engine's outputs are checked against onnxruntime (native) at its own length. Timing, warm-up
and the quiet wait are engine_bench's.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .bench_report import row_text, write_json_and_table
from .driver import Driver
from .engine_bench import Model, machine, run_ort, run_webjit, wait_for_quiet
from .errors import RunError
from .models import example_inputs, export_model
from .runner import write_npy_folder

TEXT_MODELS = ("minilm", "bert", "gpt2")
LENGTHS = (8, 32, 128)


def _folder(work: Path, tag: str, feeds: dict, session) -> tuple[Path, Path]:
    folder = work / tag
    write_npy_folder(folder / "inputs", feeds)
    outputs = session.run(None, feeds)
    write_npy_folder(folder / "reference", {o.name: v for o, v in zip(session.get_outputs(), outputs)})
    return folder / "inputs", folder / "reference"


def bench_lengths(model: str = "minilm", lengths=LENGTHS, threads_list=(1, 2), runs: int = 20, warmup_s: float = 3.0,
                  size: str = "full", max_length: int = 512, out_dir=None,
                  report: Callable[[str], None] = print) -> dict:
    import onnxruntime

    import webjit

    if model not in TEXT_MODELS:
        raise RunError(f"bench lengths takes a text model ({', '.join(TEXT_MODELS)}), not {model}")
    lengths = tuple(sorted(set(lengths)))
    if not lengths or lengths[0] < 2 or lengths[-1] > max_length:
        raise RunError(f"--lengths must lie in 2..{max_length} (the symbolic bundle's range)")
    onnx_path = export_model(model, size=size)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory(prefix="webjit-bench-lengths-") as temp:
        work = Path(temp)
        try:  # served from the bench's own folder (the driver serves no other)
            os.link(onnx_path, work / "model.onnx")
        except OSError:
            shutil.copyfile(onnx_path, work / "model.onnx")
        fixed_len = lengths[-1]
        report(f"{model}: compiling the symbolic bundle (seq 1..{max_length}) and the fixed one (seq {fixed_len})")
        started = time.perf_counter()
        symbolic = webjit.compile(onnx_path, dims={"batch": 1, "seq": (1, max_length)},
                                  options=webjit.Options(backends=("wasm",)))
        symbolic_s = time.perf_counter() - started
        symbolic.save(work / "symbolic")
        fixed = webjit.compile(onnx_path, dims={"batch": 1, "seq": fixed_len}, options=webjit.Options(backends=("wasm",)))
        fixed.save(work / "fixed")
        models = {}
        for length in lengths:
            inputs, reference = _folder(work, f"len{length}", example_inputs(model, size=size, seq=length), session)
            models[("symbolic", length)] = Model(model, work / "model.onnx", work / "symbolic", inputs, reference,
                                                 symbolic_s, symbolic.manifest)
        inputs, reference = _folder(work, "padded", _padded(example_inputs(model, size=size, seq=lengths[0]), fixed_len),
                                    session)
        models[("fixed", fixed_len)] = Model(model, work / "model.onnx", work / "fixed", inputs, reference, 0.0,
                                             fixed.manifest)
        load_before = wait_for_quiet(report)
        results = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": model, "size": size, "runs": runs,
                   "warmup_s": warmup_s, "lengths": list(lengths), "max_length": max_length,
                   "load_average_before": load_before, "machine": machine(), "rows": []}
        with Driver("chromium", "wasm", [work], timeout_s=3600, page="bench/bench.html") as driver:
            for threads in threads_list:
                driver.reload()  # onnxruntime-web fixes its thread count when its WASM starts
                for length in lengths:
                    cases = [("webjit-wasm", "symbolic", models[("symbolic", length)], run_webjit),
                             ("ort-wasm", "ort", models[("symbolic", length)], run_ort)]
                    if length == lengths[0]:
                        cases.append(("webjit-wasm", "fixed", models[("fixed", fixed_len)], run_webjit))
                    for engine, bundle, m, run in cases:
                        try:
                            row = run(driver, m, "wasm", threads, runs, warmup_s)
                            row.pop("profile", None)
                        except RunError as err:
                            row = {"error": str(err)}
                        row.update(model=model, engine=engine, bundle=bundle, threads=threads,
                                   length=fixed_len if bundle == "fixed" else length)
                        results["rows"].append(row)
                        report(f"{bundle} seq {row['length']}: " + row_text(row))
        results["load_average_after"] = list(os.getloadavg())
    if out_dir:
        write_length_results(results, Path(out_dir))
    return results


def _padded(feeds: dict, length: int) -> dict:
    """Inputs padded to `length` as a page pads for a fixed-length bundle: the attention mask 0
    over the padding, ids and token types 0 there."""
    out = {}
    for name, value in feeds.items():
        padded = np.zeros((value.shape[0], length), value.dtype)
        padded[:, :value.shape[1]] = value
        out[name] = padded
    return out


def length_table(results: dict) -> str:
    """Per thread count and length: the symbolic bundle, onnxruntime-web, and their ratio; and
    the fixed bundle's time (padded) against the symbolic one's at each length."""
    rows = [r for r in results["rows"] if "error" not in r]
    fixed = {r["threads"]: r for r in rows if r["bundle"] == "fixed"}
    lines = ["| threads | length | webjit, one bundle for 1..{0} (ms) | webjit, fixed {1}, padded (ms) | "
             "onnxruntime-web (ms) | ort / webjit | fixed / symbolic | webjit error | ort error |".format(
                 results["max_length"], max(results["lengths"])),
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for threads in sorted({r["threads"] for r in rows}):
        for length in results["lengths"]:
            ours = next((r for r in rows if r["bundle"] == "symbolic" and r["threads"] == threads
                         and r["length"] == length), None)
            theirs = next((r for r in rows if r["bundle"] == "ort" and r["threads"] == threads
                           and r["length"] == length), None)
            pad = fixed.get(threads)
            cell = lambda r, key="min_ms", fmt="{:.1f}": fmt.format(r[key]) if r else "-"
            ratio = lambda a, b: f"{a['min_ms'] / b['min_ms']:.2f}x" if a and b else "-"
            lines.append(f"| {threads} | {length} | {cell(ours)} | {cell(pad)} | {cell(theirs)} | {ratio(theirs, ours)} | "
                         f"{ratio(pad, ours)} | {cell(ours, 'max_error', '{:.1e}')} | "
                         f"{cell(theirs, 'max_error', '{:.1e}')} |")
    return "\n".join(lines) + "\n"


def write_length_results(results: dict, out_dir: Path) -> None:
    write_json_and_table(results, out_dir / f"bench-lengths-{results['model']}",
                         f"webjit bench lengths {results['model']}",
                         f"minimum of {results['runs']} runs after {results['warmup_s']} s of warm-up",
                         length_table(results))
