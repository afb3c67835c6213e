"""`webjit fuzz`: differential fuzzing of the compiler and the runtime against onnxruntime.

Each random graph (fuzz_gen.py) is run by onnxruntime, compiled by webjit for one backend and
run by the JS runtime in Node; the outputs are compared. When the two disagree, a float64 run
of the same graph (onnx's reference evaluator) decides who is wrong. Every graph ends in one
outcome:

  ok         the outputs match (or webjit is the closer one to float64)
  refused    webjit refused the model with one sentence (unsupported op, attribute or dtype)
  wrong      webjit's outputs are wrong
  internal   the compiler failed inside itself (a CompileError on a valid model)
  traceback  the compiler raised something that is not a webjit error
  runtime    the JS runtime failed on a bundle the compiler made
  hang       the run did not settle within the timeout
  invalid    onnxruntime refused the graph: a generator bug, not counted against webjit

A graph with a bad outcome is minimised (values cut into inputs, outputs narrowed, dead nodes
dropped while the outcome stays) and saved as a regression case the test suite runs.
"""
from __future__ import annotations

import json
import re
import selectors
import shutil
import subprocess
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .errors import CompileError, ModelError, RunError, ShapeError, UnsupportedError
from .fuzz_gen import ONNX_TYPE, random_graph

OUTCOMES = ("ok", "refused", "wrong", "internal", "traceback", "runtime", "hang", "invalid")
BAD = ("wrong", "internal", "traceback", "runtime", "hang")
RTOL, ATOL, SCALED_ATOL = 1e-3, 1e-4, 1e-5  # |webjit - ort| <= ATOL + SCALED_ATOL * max|ort| + RTOL * |ort|
TIMEOUT_S = {"wasm": 30.0, "webgpu": 90.0}
INT64_STOP = "computed an int64 value outside the int32 range"  # runtime_web/src/steps.js


@dataclass
class Verdict:
    outcome: str
    message: str = ""

    @property
    def key(self) -> str:
        """The class of the finding: its outcome and message without names and numbers."""
        text = re.sub(r"'[^']*'", "'_'", self.message.splitlines()[0] if self.message else "")
        return f"{self.outcome}: {re.sub(r'[-+]?[0-9][0-9.e+-]*', 'N', text)[:160]}"


# ---- the runtime side: one Node process running bundles, restarted after a hang

class NodeRunner:
    """A webjit-batch-node.mjs process, fed one job per line."""

    def __init__(self, backend: str):
        from .runner import node_env, runtime_dir
        self.backend = backend
        self.script = runtime_dir() / "bin" / "webjit-batch-node.mjs"
        self.env = node_env(backend)
        self.process = None

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RunError("node is not on PATH; webjit fuzz runs bundles in Node.js 20 or later")
        self.process = subprocess.Popen([node, str(self.script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env=self.env, bufsize=1)

    def run(self, bundle: Path, inputs: Path, outputs: Path, threads: int, timeout_s: float) -> str | None:
        """None when the run succeeded, else the runtime's error; raises TimeoutError on a hang."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        job = {"bundle": str(bundle), "inputs": str(inputs), "outputs": str(outputs), "threads": threads,
               "backend": self.backend}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            if not sel.select(timeout_s):
                self.stop()
                raise TimeoutError(f"the run did not settle within {timeout_s:g} s")
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            self.process = None
            return f"the Node process died (exit code {code})"
        reply = json.loads(line)
        return None if reply["ok"] else reply["error"]

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# ---- one graph

@dataclass
class Checker:
    """Compiles and runs graphs for one backend, in its own scratch folder."""
    backend: str = "wasm"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="webjit-fuzz-")))
    runner: NodeRunner | None = None

    def __post_init__(self):
        self.runner = self.runner or NodeRunner(self.backend)

    def check(self, model: onnx.ModelProto, feeds: dict, threads: int = 1) -> Verdict:
        try:
            expected = ort_run(model, feeds)
        except Exception as exc:
            return Verdict("invalid", f"onnxruntime refused the graph: {str(exc).splitlines()[0][:300]}")
        from .pipeline import Options, compile
        try:
            bundle = compile(model, options=Options(backends=(self.backend,)))
        except (UnsupportedError, ShapeError, ModelError) as exc:
            return Verdict("refused", str(exc))
        except CompileError as exc:
            return Verdict("internal", str(exc))
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return Verdict("traceback", f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})")
        from .runner import npy_file, write_npy_folder
        work = Path(tempfile.mkdtemp(dir=self.root))
        try:
            bundle.save(work / "bundle")
            write_npy_folder(work / "inputs", feeds)
            try:
                error = self.runner.run(work / "bundle", work / "inputs", work / "outputs", threads,
                                        TIMEOUT_S[self.backend])
            except TimeoutError as exc:
                return Verdict("hang", str(exc))
            if error is not None:  # an int64 value beyond int32 stops the kernel: a refusal, in one sentence
                return Verdict("refused" if INT64_STOP in error else "runtime", error)
            got = {name: np.load(work / "outputs" / npy_file(name)) for name in expected}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return compare(model, feeds, got, expected)

    def close(self) -> None:
        self.runner.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def ort_run(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray]:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    return dict(zip(names, session.run(names, feeds)))


def reference64(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray] | None:
    """The graph evaluated in float64 by onnx's reference evaluator (None if it cannot)."""
    from onnx.reference import ReferenceEvaluator
    try:
        wide = to_float64(model)
        inputs = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in feeds.items()}
        names = [o.name for o in model.graph.output]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NaN and inf are what edge graphs are for
            return dict(zip(names, ReferenceEvaluator(wide).run(names, inputs)))
    except Exception:
        return None


def to_float64(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with every float32 tensor, cast and constant made float64."""
    wide = onnx.ModelProto()
    wide.CopyFrom(model)
    g = wide.graph
    for value in (*g.input, *g.output, *g.value_info):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.DOUBLE
    for i, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float64),
                                                              init.name))
    for node in g.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.DOUBLE
    return wide


def compare(model, feeds, got: dict, expected: dict) -> Verdict:
    wide = None
    for name, want in expected.items():
        have = got[name]
        if have.shape != want.shape:
            return Verdict("wrong", f"output '{name}' has shape {list(have.shape)}; onnxruntime's has "
                                    f"{list(want.shape)}")
        if have.dtype != want.dtype:
            return Verdict("wrong", f"output '{name}' is {have.dtype}; onnxruntime's is {want.dtype}")
        bad = ~agree(have, want)
        if not bad.any():
            continue
        wide = reference64(model, feeds) if wide is None else wide
        ref = None if wide is None else np.asarray(wide[name])
        if ref is not None and ref.shape == want.shape:
            if want.dtype.kind == "f":
                with np.errstate(invalid="ignore", over="ignore"):
                    r = ref.astype(np.float64)
                    closer = np.abs(have - r) <= 4 * np.abs(want - r)
                bad &= ~(agree(have, r.astype(np.float32)) | closer)
            else:
                bad &= have != ref.astype(have.dtype)
        if bad.any() and want.dtype.kind == "f" and nan_enters_max_like(model, feeds):
            bad &= np.isnan(have) == np.isnan(want)  # NaN through max-like ops: ONNX leaves it open
        if bad.any():
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            where = f"[{', '.join(map(str, i))}]" if i else ""
            also = "" if ref is None or ref.shape != want.shape else f", float64 {ref[i]!r}"
            return Verdict("wrong", f"output '{name}'{where} is {have[i]!r}; onnxruntime gives {want[i]!r}{also} "
                                    f"({int(bad.sum())} of {bad.size} elements differ)")
    return Verdict("ok")


# Ops whose answer on NaN ONNX does not define; onnxruntime's kernels disagree with each other
# (ReduceMax propagates, MaxPool keeps NaN only in some window positions, ArgMax skips it) and
# webjit propagates NaN as IEEE maximum and numpy do (docs/reliability.md).
MAX_LIKE = ("Max", "Min", "ReduceMax", "ReduceMin", "ArgMax", "MaxPool", "GlobalMaxPool", "Clip")


def nan_enters_max_like(model, feeds) -> bool:
    if not any(n.op_type in MAX_LIKE for n in model.graph.node):
        return False
    values = all_values(model, feeds) or {}
    values.update(feeds)
    for node in model.graph.node:
        if node.op_type in MAX_LIKE:
            for name in node.input:
                v = values.get(name)
                if v is not None and v.dtype.kind == "f" and np.isnan(v).any():
                    return True
    return False


def agree(have: np.ndarray, want: np.ndarray) -> np.ndarray:
    if want.dtype.kind != "f":
        return have == want
    with np.errstate(invalid="ignore", over="ignore"):
        h, w = have.astype(np.float64), want.astype(np.float64)
        finite = np.abs(w[np.isfinite(w)])
        scale = float(finite.max()) if finite.size else 0.0
        close = np.abs(h - w) <= ATOL + SCALED_ATOL * scale + RTOL * np.abs(w)
        return close | (h == w) | (np.isnan(h) & np.isnan(w))


# ---- minimising a finding

def minimise(model: onnx.ModelProto, feeds: dict, verdict: Verdict, check, budget: int = 120):
    """The smallest graph found for which `check(model, feeds)` keeps `verdict`'s outcome:
    a value cut into a graph input (its onnxruntime value as the feed) or a constant, the
    outputs narrowed to one, dead nodes dropped; a few dozen tries at most."""
    values = all_values(model, feeds)
    if values is None:
        return model, feeds
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for candidate in _reductions(model, feeds, values):
            if tries >= budget:
                break
            tries += 1
            if check(*candidate).outcome == verdict.outcome:
                model, feeds = candidate
                improved = True
                break
    return model, feeds


def all_values(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray] | None:
    """Every tensor of the graph as onnxruntime computes it."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for name in node.output:
            if name and name not in known:
                probe.graph.output.append(helper.make_empty_tensor_value_info(name))
                known.add(name)
    try:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in probe.graph.output]
        return dict(zip(names, session.run(names, feeds)))
    except Exception:
        return None


def _reductions(model, feeds, values):
    """Smaller graphs, smallest first: one output kept; one value cut into an input or a constant."""
    g = model.graph
    outputs = [o.name for o in g.output]
    if len(outputs) > 1:
        for name in outputs:
            yield _pruned(model, feeds, [name], {}, values)
    produced = [name for node in g.node for name in node.output if name]
    for name in produced:
        value = values.get(name)
        if value is None or value.dtype.name not in ("float32", "int32", "int64", "bool"):
            continue
        if name not in outputs:
            yield _pruned(model, feeds, [name], {}, values)
        for as_input in (True, False):
            yield _pruned(model, feeds, outputs, {name: as_input}, values)


def _pruned(model, feeds, outputs, cuts: dict, values):
    """`model` with the values in `cuts` made inputs (True) or constants (False), `outputs`
    its outputs, and every node, input and constant nothing reads dropped."""
    g = model.graph
    nodes = [n for n in g.node if not set(n.output) & set(cuts)]
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if set(node.output) & needed:
            kept.append(node)
            needed |= {i for i in node.input if i}
    kept.reverse()
    inputs = [v for v in g.input if v.name in needed]
    inits = [t for t in g.initializer if t.name in needed]
    new_feeds = {k: v for k, v in feeds.items() if k in needed}
    for name, as_input in cuts.items():
        if name not in needed:
            continue
        value = values[name]
        if as_input:
            inputs.append(helper.make_tensor_value_info(name, ONNX_TYPE[value.dtype.name], list(value.shape)))
            new_feeds[name] = value
        else:
            inits.append(numpy_helper.from_array(value, name))
    out_info = []
    for name in outputs:
        old = next((o for o in g.output if o.name == name), None)
        value = values[name]
        out_info.append(old if old is not None else
                        helper.make_tensor_value_info(name, ONNX_TYPE[value.dtype.name], list(value.shape)))
    graph = helper.make_graph(kept, g.name, inputs, out_info, inits)
    small = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    return small, new_feeds


# ---- regression cases

def save_case(folder: Path, model, feeds, verdict: Verdict, info: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    np.savez(folder / "feeds.npz", **{f"f{i}": v for i, v in enumerate(feeds.values())})
    (folder / "finding.json").write_text(json.dumps(
        {**info, "outcome": verdict.outcome, "message": verdict.message, "inputs": list(feeds),
         "ops": [n.op_type for n in model.graph.node]}, indent=1) + "\n")
    return folder


def load_case(folder: Path):
    info = json.loads((folder / "finding.json").read_text())
    with np.load(folder / "feeds.npz") as data:
        feeds = {name: data[f"f{i}"] for i, name in enumerate(info["inputs"])}
    return onnx.load(folder / "model.onnx"), feeds, info


# ---- a run

@dataclass
class GraphResult:
    index: int
    outcome: str
    message: str
    key: str
    ops: list
    seconds: float
    case: str | None = None


_checker: Checker | None = None


def _worker_init(backend: str) -> None:
    global _checker
    import atexit
    _checker = Checker(backend)
    atexit.register(_checker.close)


def threads_for(index: int) -> int:
    return 2 if index % 4 == 3 else 1  # a quarter of the graphs on two threads


def fuzz_one(seed: int, index: int, cases_dir: str | None) -> GraphResult:
    start = time.perf_counter()
    model, feeds = random_graph(seed, index)
    threads = threads_for(index)
    verdict = _checker.check(model, feeds, threads)
    case = None
    if verdict.outcome in BAD and cases_dir:
        small, small_feeds = minimise(model, feeds, verdict, lambda m, f: _checker.check(m, f, threads))
        final = _checker.check(small, small_feeds, threads)
        if final.outcome != verdict.outcome:  # the outcome came and went: keep the whole graph
            small, small_feeds, final = model, feeds, verdict
        name = f"{_checker.backend}-{verdict.outcome}-s{seed}-g{index}"
        case = str(save_case(Path(cases_dir) / name, small, small_feeds, final,
                             {"seed": seed, "index": index, "backend": _checker.backend, "threads": threads}))
        verdict = final
    return GraphResult(index, verdict.outcome, verdict.message, verdict.key, [n.op_type for n in model.graph.node],
                       time.perf_counter() - start, case)


def _fuzz_one(args) -> GraphResult:
    try:
        return fuzz_one(*args)
    except Exception as exc:  # the harness itself failed: reported as a traceback of this graph
        return GraphResult(args[1], "traceback", f"the fuzzer failed: {type(exc).__name__}: {exc}",
                           f"traceback: the fuzzer failed: {type(exc).__name__}", [], 0.0)


@dataclass
class FuzzReport:
    seed: int
    count: int
    backend: str
    seconds: float = 0.0
    outcomes: dict = field(default_factory=dict)
    classes: dict = field(default_factory=dict)  # key -> {count, example index, message, case}
    ops: dict = field(default_factory=dict)

    def add(self, r: GraphResult) -> None:
        self.outcomes[r.outcome] = self.outcomes.get(r.outcome, 0) + 1
        for op in r.ops:
            self.ops[op] = self.ops.get(op, 0) + 1
        if r.outcome != "ok":
            entry = self.classes.setdefault(r.key, {"count": 0, "index": r.index, "message": r.message, "case": r.case})
            entry["count"] += 1

    @property
    def bad(self) -> int:
        return sum(self.outcomes.get(k, 0) for k in BAD)

    def summary(self) -> str:
        counted = self.count - self.outcomes.get("invalid", 0)
        parts = [f"{k} {self.outcomes[k]}" for k in OUTCOMES if self.outcomes.get(k)]
        refused = self.outcomes.get("refused", 0)
        lines = [f"webjit fuzz: {self.count} graphs (seed {self.seed}, {self.backend}) in {self.seconds:.0f} s: "
                 f"{', '.join(parts)}; refused {100 * refused / max(counted, 1):.2f}% of valid graphs"]
        for key, entry in sorted(self.classes.items(), key=lambda kv: -kv[1]["count"]):
            where = f" -> {entry['case']}" if entry.get("case") else ""
            lines.append(f"  {entry['count']:5d}  {key}  (graph {entry['index']}{where})")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


def run_fuzz(count: int, seed: int = 1, backend: str = "wasm", jobs: int = 1, cases_dir: str | None = None,
             start: int = 0, progress=None) -> FuzzReport:
    """Fuzz `count` graphs (indices start..start+count-1 of `seed`) in `jobs` processes."""
    report = FuzzReport(seed, count, backend)
    began = time.perf_counter()
    work = [(seed, i, cases_dir) for i in range(start, start + count)]
    if jobs <= 1:
        _worker_init(backend)
        results = map(_fuzz_one, work)
    else:  # forked before onnxruntime or Node start, so each worker has its own
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork"), initializer=_worker_init,
                                   initargs=(backend,))
        results = pool.map(_fuzz_one, work, chunksize=4)
    try:
        for done, result in enumerate(results, 1):
            report.add(result)
            if progress and (result.outcome in BAD or done % 50 == 0 or done == count):
                progress(done, result, report)
    except BrokenProcessPool:
        raise RunError("a fuzzing process died (onnxruntime or the generator crashed); rerun with --jobs 1 "
                       "to see which graph") from None
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)
        elif _checker is not None:
            _checker.close()
    report.seconds = time.perf_counter() - began
    return report


def check_case(folder: Path, backend: str | None = None) -> Verdict:
    """Run a saved regression case again (in this process)."""
    model, feeds, info = load_case(folder)
    checker = Checker(backend or info.get("backend", "wasm"))
    try:
        return checker.check(model, feeds, info.get("threads", 1))
    finally:
        checker.close()

