"""Compile the model zoo (zoo.py) and run it on every backend against onnxruntime, in batches:
one Node process per backend and one Chromium session, so the whole zoo costs one start each.

`python -m webjit.zoo_check --size small --update docs/models.md` measures every architecture
and rewrites that size's zoo table in docs/models.md (between its markers).
"""
from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys
import tempfile
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field

import numpy as np

from webjit import zoo
from webjit.errors import RunError

BACKENDS = ("wasm-node", "webgpu-node", "wasm-chromium")
TOLERANCE = 1e-4  # max |webjit - onnxruntime| / max |onnxruntime| per output
NOT_MEASURED = "not measured"
MARKERS = "<!-- zoo {size}: begin -->", "<!-- zoo {size}: end -->"  # around each size's table in the document


@dataclass
class Prepared:
    name: str
    size: str
    path: pathlib.Path | None = None
    feeds: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    bundle_dir: pathlib.Path | None = None
    inputs_dir: pathlib.Path | None = None
    error: str | None = None  # why it could not be exported or compiled (one sentence for webjit's own errors)
    op_types: collections.Counter = field(default_factory=collections.Counter)
    results: dict = field(default_factory=dict)  # backend -> {output: array} or error text
    seconds: dict = field(default_factory=dict)  # "compile" and backend -> wall seconds


def op_types(path: pathlib.Path) -> collections.Counter:
    import onnx

    return collections.Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def prepare(name: str, size: str, root: pathlib.Path) -> Prepared:
    """Export (cached), compile and write the bundle and inputs; errors are kept, not raised."""
    import onnxruntime

    import webjit
    from webjit.errors import WebjitError
    from webjit.runner import write_npy_folder

    item = Prepared(name, size)
    item.path = zoo.export(name, size)
    item.op_types = op_types(item.path)
    item.feeds = zoo.example_inputs(name, size)
    session = onnxruntime.InferenceSession(str(item.path), providers=["CPUExecutionProvider"])
    item.reference = dict(zip([o.name for o in session.get_outputs()], session.run(None, item.feeds)))
    started = time.perf_counter()
    try:
        bundle = webjit.compile(item.path, {k: v.shape for k, v in item.feeds.items()})
        item.seconds["compile"] = time.perf_counter() - started
    except WebjitError as exc:
        item.error = f"{type(exc).__name__}: {exc}"
        return item
    except Exception as exc:  # a compiler bug: keep the traceback for the report
        item.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-4)}"
        return item
    item.bundle_dir = root / name / "bundle"
    bundle.save(item.bundle_dir)
    item.inputs_dir = root / name / "inputs"
    write_npy_folder(item.inputs_dir, item.feeds)
    return item


def run_in_node(items: list[Prepared], backend: str, timeout_s: float = 600.0) -> None:
    """Run every compiled item on backend ("wasm" or "webgpu") in one Node process."""
    from webjit.fuzz import NodeRunner
    from webjit.runner import npy_file

    runner = NodeRunner(backend)
    try:
        for item in items:
            if item.bundle_dir is None:
                continue
            out = item.bundle_dir.parent / f"outputs-{backend}"
            started = time.perf_counter()
            try:
                error = runner.run(item.bundle_dir, item.inputs_dir, out, 2 if backend == "wasm" else 1, timeout_s)
            except TimeoutError as exc:
                error = str(exc)
            item.results[f"{backend}-node"] = error or {n: np.load(out / npy_file(n)) for n in item.reference}
            item.seconds[f"{backend}-node"] = time.perf_counter() - started
    finally:
        runner.stop()


def run_in_chromium(items: list[Prepared], root: pathlib.Path, backend: str = "wasm",
                    timeout_s: float = 600.0) -> None:
    """Run every compiled item in one headless Chromium session, one page load per bundle."""
    from webjit.runner import (decode_outputs, launch_chromium, load_manifest, playwright_api, runtime_dir,
                               wait_for_result)
    from webjit.server import serve_folders

    compiled = [item for item in items if item.bundle_dir is not None]
    if not compiled:
        return
    sync_playwright, PlaywrightError = playwright_api()
    mounts = {"/runtime/": runtime_dir(), "/zoo/": root}
    with serve_folders(mounts) as base, sync_playwright() as playwright:
        context = launch_chromium(playwright, root / "chromium-profile", backend != "wasm", PlaywrightError)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            for item in compiled:
                messages: list[str] = []
                query = urllib.parse.urlencode({"bundle": f"{base}/zoo/{item.name}/bundle/", "backend": backend,
                                                "threads": "auto", "repeat": 1,
                                                "inputs": f"{base}/zoo/{item.name}/inputs/"})
                started = time.perf_counter()
                try:
                    result = wait_for_result(page, f"{base}/runtime/page/run.html?{query}", timeout_s, messages,
                                             PlaywrightError)
                    if "error" in result:
                        raise RunError(str(result["error"]))
                    item.results[f"{backend}-chromium"] = decode_outputs(result.get("outputs", {}),
                                                                         load_manifest(item.bundle_dir))
                except RunError as exc:
                    item.results[f"{backend}-chromium"] = str(exc)
                item.seconds[f"{backend}-chromium"] = time.perf_counter() - started
        finally:
            context.close()


def relative_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max() / max(np.abs(want).max(), np.finfo(np.float32).tiny))


def outcome(item: Prepared, backend: str) -> tuple[float | None, str | None]:
    """(max relative error over the outputs, None) or (None, why there is no result)."""
    if item.error is not None:
        return None, item.error
    result = item.results.get(backend)
    if result is None:
        return None, NOT_MEASURED
    if isinstance(result, str):
        return None, result
    return max(relative_error(result[name], want) for name, want in item.reference.items()), None


def check_zoo(names, size: str, backends=BACKENDS, root: pathlib.Path | None = None, timeout_s: float = 600.0,
              after_backend=None) -> list[Prepared]:
    """Prepare every architecture, then run each backend's batch (calling after_backend(items) after
    each); returns the items with their results."""
    root = pathlib.Path(root or tempfile.mkdtemp(prefix="webjit-zoo-"))
    items = [prepare(name, size, root) for name in names]
    for backend in backends:
        engine, host = backend.split("-")
        if host == "node":
            run_in_node(items, engine, timeout_s)
        else:
            run_in_chromium(items, root, engine, timeout_s)
        if after_backend:
            after_backend(items)
    return items


def first_sentence(error: str) -> str:
    """The error's first line without the error class and the list of nodes, at most 160 characters."""
    line = error.splitlines()[0].split(" (nodes: ")[0]
    line = line.split(": ", 1)[1] if line.split(":")[0].endswith("Error") else line
    return line if len(line) <= 160 else line[:157] + "..."


def summary(item: Prepared, backends=BACKENDS) -> dict:
    """What docs/models.md shows of one item, as JSON."""
    return {"size": item.size, "op_types": dict(sorted(item.op_types.items())), "refused": item.error is not None,
            "outcomes": {b: outcome(item, b) for b in backends}, "seconds": item.seconds}


def table(summaries: dict[str, dict], backends=BACKENDS) -> str:
    """The markdown table of {name: summary}."""
    rows = ["| architecture | source | size | nodes | op types | " + " | ".join(backends) + " |",
            "|---|---|---|---:|---|" + "---:|" * len(backends)]
    for name, entry in summaries.items():
        arch = zoo.architecture(name)
        described = arch.small if entry["size"] == "small" else arch.full
        ops = ", ".join(f"{op} {count}" for op, count in entry["op_types"].items())
        cells = []
        for backend in backends:
            error, why = entry["outcomes"].get(backend, (None, NOT_MEASURED))
            if why == NOT_MEASURED:
                cells.append(why)
            elif why is not None:
                cells.append(f"{'refused' if entry['refused'] else 'failed'}: {first_sentence(why)}")
            else:
                cells.append(f"{error:.1e}" + ("" if error <= TOLERANCE else " (over 1e-4)"))
        rows.append(f"| {name} | {arch.source} | {described} | {sum(entry['op_types'].values())} | {ops} | "
                    + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def update_document(document: pathlib.Path, size: str, text: str) -> None:
    """Replace the table between the size's markers in document."""
    begin, end = (marker.format(size=size) for marker in MARKERS)
    content = document.read_text()
    if begin not in content or end not in content:
        raise SystemExit(f"{document} has no zoo table markers ({begin} ... {end})")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    document.write_text(f"{head}{begin}\n{text}{end}{tail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webjit.zoo_check", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"architectures (default all: {', '.join(zoo.NAMES)})")
    parser.add_argument("--size", choices=zoo.SIZES, default="small")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, from " + ", ".join(BACKENDS))
    parser.add_argument("--update", type=pathlib.Path, help="rewrite the zoo table of this document (docs/models.md)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the measurements as JSON here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take (default 600)")
    parser.add_argument("--render", type=pathlib.Path, help="measure nothing: make the table from this --json file")
    args = parser.parse_args(argv)
    backends = tuple(args.backends.split(","))
    if args.render:
        summaries = json.loads(args.render.read_text())
    else:
        def save(items):  # after each backend, so a long run keeps what it measured
            if args.json:
                args.json.write_text(json.dumps({i.name: summary(i, backends) for i in items}, indent=1) + "\n")
        items = check_zoo(args.names or zoo.NAMES, args.size, backends, timeout_s=args.timeout, after_backend=save)
        summaries = {item.name: summary(item, backends) for item in items}
    text = table(summaries, backends)
    print(text, end="")
    if args.update:
        update_document(args.update, args.size, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
