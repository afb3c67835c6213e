"""`webjit bench generate`: GPT-2 text generation with a KV cache, webjit's session.generate
against onnxruntime-web running the same exported decoder (gpt2-past) with its cache, side by
side in one headless Chromium, on WASM (per thread count) and on WebGPU (webjit's WebGPU
engine against onnxruntime-web's webgpu execution provider, on the same adapter).

Per engine, thread count and context C: greedy generation from a prompt of C - DECODE_STEPS
tokens for DECODE_STEPS + 1 new tokens. The first step (the whole prompt, empty cache) is the
prompt processing, reported in tokens/s; the DECODE_STEPS one-token steps after it attend to
C - DECODE_STEPS + 1 .. C positions, and their mean is the decode time per token "at C tokens of
context". Both engines' tokens are checked against onnxruntime's (native) greedy loop, so a fast
wrong answer shows. One webjit bundle, compiled for sequence 1..C and past_sequence 0..C, serves
every context. The two engines run in turn, round by round, in one page, so a loaded machine
weighs on both alike; the quiet wait is engine_bench's.
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .bench_report import write_json_and_table
from .driver import Driver
from .engine_bench import machine, wait_for_quiet
from .errors import RunError
from .models import export_model

CONTEXTS = (128, 512)
DECODE_STEPS = 8
POSITIONS = 1024  # GPT-2's position embeddings
PAST = "past_key_values."


def prompt_tokens(length: int, vocab: int) -> list[int]:
    """A fixed prompt of `length` token ids (seeded), the same for every engine."""
    return [int(t) for t in np.random.default_rng(0).integers(0, vocab, length)]


def onnxruntime_greedy(session, prompt: list[int], count: int) -> list[int]:
    """The reference: onnxruntime's argmax of the last logits, present.* fed back as past_key_values.*
    (a merged decoder's use_cache_branch false on the first step, on an empty past, then true)."""
    outputs = [o.name for o in session.get_outputs()]
    merged = any(i.name == "use_cache_branch" for i in session.get_inputs())
    past = {i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32) for i in session.get_inputs()
            if i.name.startswith(PAST)}
    ids, total, tokens = np.array([prompt], np.int64), 0, []
    for _ in range(count):
        total += ids.shape[1]
        branch = {"use_cache_branch": np.array([bool(tokens)])} if merged else {}
        got = dict(zip(outputs, session.run(None, {"input_ids": ids, "attention_mask": np.ones((1, total), np.int64),
                                                  **past, **branch})))
        tokens.append(int(np.argmax(got["logits"][0, -1])))
        past = {name: got["present." + name[len(PAST):]] for name in past}
        ids = np.array([[tokens[-1]]], np.int64)
    return tokens


def bench_generate(contexts=CONTEXTS, threads_list=(1, 2), runs: int = 5, warmup_s: float = 10.0, size: str = "full",
                   decode_steps: int = DECODE_STEPS, out_dir=None, report: Callable[[str], None] = print,
                   backends=("wasm",)) -> dict:
    """Runs the comparison; returns the results (and writes them under out_dir when given)."""
    import onnxruntime

    import webjit

    contexts = tuple(sorted(set(contexts)))
    if not contexts or contexts[0] <= decode_steps:
        raise RunError(f"--contexts must be greater than the {decode_steps} decode steps timed at each")
    if contexts[-1] > POSITIONS:
        raise RunError(f"--contexts must be at most {POSITIONS}, the positions GPT-2 has")
    onnx_path = export_model("gpt2-past", size=size)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    past_inputs = [i for i in session.get_inputs() if i.name.startswith(PAST)]
    cache = {"names": [i.name for i in past_inputs], "heads": past_inputs[0].shape[1],
             "head_size": past_inputs[0].shape[3]}
    vocab = session.get_outputs()[0].shape[-1]
    prompts = {c: prompt_tokens(c - decode_steps, vocab) for c in contexts}
    reference = {c: onnxruntime_greedy(session, prompts[c], decode_steps + 1) for c in contexts}
    longest = contexts[-1]
    with tempfile.TemporaryDirectory(prefix="webjit-bench-generate-") as temp:
        work = Path(temp)
        try:  # served from the bench's own folder (the driver serves no other)
            os.link(onnx_path, work / "model.onnx")
        except OSError:
            shutil.copyfile(onnx_path, work / "model.onnx")
        dims = {"batch": 1, "sequence": (1, longest), "past_sequence": (0, longest),
                "total_sequence": "past_sequence+sequence"}
        report(f"gpt2-past ({size}): compiling one bundle for sequence 1..{longest}, past_sequence 0..{longest}")
        started = time.perf_counter()
        webjit.compile(onnx_path, dims=dims, options=webjit.Options(backends=tuple(backends))).save(work / "bundle")
        compile_s = time.perf_counter() - started
        load_before = wait_for_quiet(report)
        results = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": "gpt2-past", "size": size, "runs": runs,
                   "warmup_s": warmup_s, "contexts": list(contexts), "decode_steps": decode_steps,
                   "compile_s": round(compile_s, 2), "load_average_before": load_before, "machine": machine(),
                   "backends": list(backends), "rows": []}
        models = {"webjit": work / "bundle", "ort": work / "model.onnx"}
        # WASM once per thread count; WebGPU once (onnxruntime-web's own WASM part on one thread).
        passes = [("wasm", t) for t in threads_list if "wasm" in backends] + [("webgpu", None)] * ("webgpu" in backends)
        with Driver("chromium", "webgpu" if "webgpu" in backends else "wasm", [work], timeout_s=3600,
                    page="bench/bench.html") as driver:
            for backend, threads in passes:
                driver.reload()  # onnxruntime-web fixes its thread count when its WASM starts
                opened = {f"{kind}-{backend}": driver.call("generate_open", engine=kind, model=driver.location(model),
                                                           backend=backend, threads=threads or 1, cache=cache)
                          for kind, model in models.items()}
                try:
                    for context in contexts:
                        timed = run_generate(driver, opened, prompts[context], decode_steps, runs, warmup_s)
                        for engine, row in timed.items():
                            if "error" not in row:
                                row["matches_onnxruntime"] = row["tokens"] == reference[context]
                            row.update(engine=engine, backend=backend, threads=threads, context=context,
                                       prompt=context - decode_steps,
                                       load_ms=opened[engine]["load_ms"], reference_tokens=reference[context])
                            results["rows"].append(row)
                            report(row_text(row))
                finally:
                    for session in opened.values():
                        driver.call("generate_close", session=session["session"])
        results["load_average_after"] = list(os.getloadavg())
    if out_dir:
        write_generate_results(results, Path(out_dir))
    return results


def run_generate(driver: Driver, opened: dict, prompt: list[int], decode_steps: int, runs: int,
                 warmup_s: float) -> dict:
    """Greedy generations on every opened engine in turn, so a loaded machine weighs on them
    alike: untimed for warmup_s (once each at least), then `runs` timed rounds. Per engine the
    prompt step's ms and the decode steps' mean ms per round."""
    def round_():
        return {e: driver.call("generate", session=s["session"], prompt=prompt, new_tokens=decode_steps + 1)
                for e, s in opened.items()}
    start = time.monotonic()
    first = round_()
    while time.monotonic() - start < warmup_s:
        round_()
    rounds = [round_() for _ in range(runs)]
    rows = {}
    for engine in opened:
        timed = [r[engine] for r in rounds]
        if any(t["tokens"] != first[engine]["tokens"] for t in timed):
            rows[engine] = {"error": "the engine's greedy tokens changed from one run to the next"}
            continue
        prefill = [t["prefill_ms"] for t in timed]
        decode = [t["decode_ms"] / decode_steps for t in timed]
        rows[engine] = {"tokens": first[engine]["tokens"], "prefill_ms": min(prefill),
                        "prefill_median_ms": statistics.median(prefill),
                        "prefill_tokens_per_s": len(prompt) / min(prefill) * 1e3,
                        "decode_ms_per_token": min(decode), "decode_median_ms_per_token": statistics.median(decode),
                        "prefill_runs_ms": prefill, "decode_runs_ms_per_token": decode}
    return rows


def row_text(row: dict) -> str:
    threads = f" {row['threads']}t" if row["threads"] else ""
    where = f"{row['engine']}{threads} context {row['context']}"
    if "error" in row:
        return f"{where}: {row['error']}"
    return (f"{where}: prompt of {row['prompt']} in {row['prefill_ms']:.1f} ms ({row['prefill_tokens_per_s']:.0f} "
            f"tokens/s), decode {row['decode_ms_per_token']:.1f} ms/token, "
            f"{'matches' if row['matches_onnxruntime'] else 'DIFFERS FROM'} onnxruntime")


def generate_table(results: dict) -> str:
    """Per backend, thread count and context: each engine's prompt tokens/s and decode ms/token,
    the ratios, and whether its greedy tokens match onnxruntime's."""
    rows = {(r["engine"], r["threads"], r["context"]): r for r in results["rows"]}
    lines = ["| backend | threads | context | prompt tokens | webjit prompt (tokens/s) | ort-web prompt (tokens/s) | "
             "webjit decode (ms/token) | ort-web decode (ms/token) | decode ort / webjit | tokens match onnxruntime |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    passes = dict.fromkeys((r.get("backend", "wasm"), r["threads"]) for r in results["rows"])
    for backend, threads in passes:
        for context in results["contexts"]:
            ours = rows.get((f"webjit-{backend}", threads, context))
            theirs = rows.get((f"ort-{backend}", threads, context))
            ok = lambda r: r is not None and "error" not in r
            cell = lambda r, key, fmt: fmt.format(r[key]) if ok(r) else "error"
            ratio = (f"{theirs['decode_ms_per_token'] / ours['decode_ms_per_token']:.2f}x"
                     if ok(ours) and ok(theirs) else "-")
            match = lambda r: ("yes" if r["matches_onnxruntime"] else "NO") if ok(r) else "-"
            lines.append(f"| {backend} | {threads or '-'} | {context} | {context - results['decode_steps']} | "
                         f"{cell(ours, 'prefill_tokens_per_s', '{:.0f}')} | {cell(theirs, 'prefill_tokens_per_s', '{:.0f}')} | "
                         f"{cell(ours, 'decode_ms_per_token', '{:.1f}')} | {cell(theirs, 'decode_ms_per_token', '{:.1f}')} | "
                         f"{ratio} | webjit {match(ours)}, ort-web {match(theirs)} |")
    return "\n".join(lines) + "\n"


def write_generate_results(results: dict, out_dir: Path) -> None:
    write_json_and_table(results, out_dir / f"bench-generate-{results['size']}",
                         f"webjit bench generate --size {results['size']}",
                         f"minimum of {results['runs']} generations after {results['warmup_s']} s of warm-up; decode "
                         f"is the mean of the {results['decode_steps']} one-token steps ending at the context",
                         generate_table(results))
