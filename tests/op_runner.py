"""Compile the shared op cases (tests/op_cases.py) and run them through the JS runtime in
one Node process per backend (tests/run_bundles.mjs); each case stays its own test."""
from __future__ import annotations

import json
import subprocess
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import webjit
from webjit.runner import node_env, npy_file, write_npy_folder

from onnx_builders import build_model, input_values, model_shapes, reference_outputs
from op_cases import CASES, THREADS_CASES

RUNNER = Path(__file__).with_name("run_bundles.mjs")
CASES_BY_NAME = {case["name"]: case for case in CASES}


@dataclass
class Prepared:
    case: dict
    feeds: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    bundle_dir: Path | None = None
    inputs_dir: Path | None = None
    error: str | None = None  # why the case could not be compiled
    results: dict = field(default_factory=dict)  # threads -> outputs dict, or error text
    threads_used: dict = field(default_factory=dict)


def prepare(case: dict, root: Path, options: "webjit.Options | None" = None) -> Prepared:
    item = Prepared(case)
    feeds, constants = input_values(case)
    model = build_model(case, constants)
    item.feeds = feeds
    item.reference = reference_outputs(model, feeds)
    try:
        bundle = webjit.compile(model, model_shapes(case), options)
    except Exception as exc:  # reported by the case's own test
        item.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
        return item
    item.bundle_dir = root / case["name"] / "bundle"
    bundle.save(item.bundle_dir)
    item.inputs_dir = root / case["name"] / "inputs"
    item.inputs_dir.mkdir(parents=True)
    write_npy_folder(item.inputs_dir, feeds)  # exact dtypes already; run_bundle's checks are tested below
    return item


def run_all(items: list[Prepared], root: Path, backend: str = "wasm", thread_counts=(1, 2)) -> None:
    jobs, owners = [], []
    for item in items:
        if item.bundle_dir is None:
            continue
        for threads in thread_counts if item.case["name"] in THREADS_CASES else thread_counts[:1]:
            out = item.bundle_dir.parent / f"outputs-{threads}"
            jobs.append({"bundle": str(item.bundle_dir), "inputs": str(item.inputs_dir), "outputs": str(out),
                         "threads": threads, "backend": backend})
            owners.append((item, threads, out))
    jobs_file = root / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    done = subprocess.run(["node", str(RUNNER), str(jobs_file)], capture_output=True, text=True, timeout=1200,
                          env=node_env(backend))
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    by_index = {r["index"]: r for r in reports}
    for index, (item, threads, out) in enumerate(owners):
        report = by_index.get(index)
        if report is None:
            item.results[threads] = f"the Node runner stopped before this job: {done.stderr[-2000:]}"
        elif not report["ok"]:
            item.results[threads] = report["error"]
        else:
            item.threads_used[threads] = report["threads"]
            item.results[threads] = {name: np.load(out / npy_file(name)) for name in item.case["outputs"]}


def outputs_of(item: Prepared, threads: int) -> dict:
    if item.error:
        pytest.fail(f"webjit could not compile case {item.case['name']}: {item.error}")
    result = item.results.get(threads)
    if isinstance(result, str):
        pytest.fail(f"case {item.case['name']} failed to run with {threads} thread(s): {result}")
    return result
