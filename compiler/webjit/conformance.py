"""`webjit conformance`: ONNX's own backend node cases, compiled by webjit and run by the JS
runtime in Node, against the expected outputs the onnx package ships with them; onnxruntime
(CPU) runs the same cases through the same comparison, for a rate to set beside webjit's.

The cases come from `onnx.backend.test.case.node.collect_testcases(None)`: each a small model
with one or more sets of inputs and expected outputs. A case is *in scope* when every tensor
it reads or writes is float32, int32, int64 or bool; the cases that also use float16, float64
or 8- and 16-bit integers (webjit computes them wide, docs/compiler.md "Dtypes") are a second row,
and the rest (bfloat16, float8, 4-bit, uint32/uint64, strings, sequences ...) a third. Outputs
agree within the case's own tolerance or rtol 1e-3 / atol 1e-5, whichever is looser (float16
outputs: rtol 2^-9, two float16 steps, since onnxruntime rounds every intermediate to float16),
NaN matching NaN, and in the dtype the model declares.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from onnx import numpy_helper

from .errors import CompileError, ModelError, ShapeError, UnsupportedError

IN_SCOPE = ("float32", "int32", "int64", "bool")
NARROW_SCOPE = ("float16", "float64", "int8", "uint8", "int16", "uint16")  # the second row
RTOL, ATOL = 1e-3, 1e-5
FLOAT16_RTOL = 2.0 ** -9


@dataclass
class CaseResult:
    name: str
    op: str
    in_scope: bool
    webjit: str  # pass | fail | refused | error
    webjit_reason: str = ""
    ort: str = ""  # pass | fail | error
    ort_reason: str = ""
    narrow: bool = False  # not in scope, but every tensor is in scope or of NARROW_SCOPE


def load_cases():
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return [c for c in collect_testcases(None) if c.data_sets]


def as_array(value):
    """A data set entry as an ndarray, or None for sequences, optionals and maps."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    if hasattr(value, "dims") and hasattr(value, "data_type"):  # a TensorProto
        return numpy_helper.to_array(value)
    return None


def case_tensors(case):
    """[(feeds, expected)] per data set, or None when a value is not a tensor."""
    names_in = [v.name for v in case.model.graph.input
                if v.name not in {t.name for t in case.model.graph.initializer}]
    names_out = [v.name for v in case.model.graph.output]
    sets = []
    for inputs, outputs in case.data_sets:
        feeds = [as_array(v) for v in inputs]
        expected = [as_array(v) for v in outputs]
        if any(v is None for v in feeds + expected) or len(feeds) > len(names_in):
            return None
        sets.append((dict(zip(names_in, feeds)), dict(zip(names_out, expected))))
    return sets


def in_scope(sets) -> bool:
    return all(str(v.dtype) in IN_SCOPE for feeds, expected in sets for v in (*feeds.values(), *expected.values()))


def narrow_scope(sets) -> bool:
    dtypes = {str(v.dtype) for feeds, expected in sets for v in (*feeds.values(), *expected.values())}
    return dtypes <= set(IN_SCOPE + NARROW_SCOPE) and not dtypes <= set(IN_SCOPE)


def op_of(case) -> str:
    ops = [n.op_type for n in case.model.graph.node]
    return ops[0] if len(ops) == 1 else (ops[-1] if ops else "?")


def agree(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """None when they agree, else the reason in a few words."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, expected {list(want.shape)}"
    if got.dtype != want.dtype and not (got.dtype == np.uint8 and want.dtype == np.bool_):
        return f"dtype {got.dtype}, expected {want.dtype}"
    if want.dtype == np.float16:
        rtol = max(rtol, FLOAT16_RTOL)
    if want.dtype.kind in "fc":
        with np.errstate(all="ignore"):
            close = np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = got.astype(want.dtype) == want if got.dtype != want.dtype else got == want
    if close.all():
        return None
    i = tuple(int(k) for k in np.argwhere(~close)[0])
    return f"{int((~close).sum())} of {close.size} values differ (at {list(i)}: {got[i]!r}, expected {want[i]!r})"


def ort_outcome(case, sets, rtol, atol) -> tuple[str, str]:
    import onnxruntime as ort
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(case.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for feeds, expected in sets:
            got = dict(zip(expected, session.run(list(expected), feeds)))
            for name, want in expected.items():
                reason = agree(got[name], want, rtol, atol)
                if reason:
                    return "fail", f"{name}: {reason}"
        return "pass", ""
    except Exception as exc:
        return "error", _line(exc)


def _line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


@dataclass
class Runner:
    backend: str = "wasm"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="webjit-conformance-")))

    def __post_init__(self):
        from .fuzz import NodeRunner
        self.node = NodeRunner(self.backend)

    def outcome(self, case, sets, rtol, atol) -> tuple[str, str]:
        from .pipeline import Options, compile
        from .runner import npy_file, write_npy_folder
        feeds0 = sets[0][0]
        bound: dict = {}
        while True:  # inputs that decide shapes are bound from the case's data, as --const would
            shapes = {name: tuple(v.shape) for name, v in feeds0.items() if name not in bound}
            try:
                bundle = compile(case.model, shapes, Options(backends=(self.backend,), constants=bound))
                break
            except (UnsupportedError, ShapeError, ModelError) as exc:
                wanted = re.search(r"bind it with --const (\S+)=VALUE", str(exc))
                if wanted and wanted.group(1) in feeds0 and wanted.group(1) not in bound:
                    bound[wanted.group(1)] = feeds0[wanted.group(1)]
                    continue
                # a shape computed from the inputs: bind the small integer inputs it can come from
                small = {n: v for n, v in feeds0.items() if n not in bound and v.dtype.kind in "iu" and v.size <= 8}
                if "computed at run time" not in str(exc) or not small:
                    return "refused", _line(exc)
                bound.update(small)
            except CompileError as exc:
                return "error", f"internal: {_line(exc)}"
            except Exception as exc:
                return "error", f"{type(exc).__name__}: {_line(exc)}"
        if bound and any(any(not np.array_equal(f[n], v) for n, v in bound.items()) for f, _ in sets[1:]):
            return "refused", "data sets give a shape-deciding input different values; each needs its own --const"
        sets = [({n: v for n, v in f.items() if n not in bound}, e) for f, e in sets]
        feeds0 = sets[0][0]
        work = Path(tempfile.mkdtemp(dir=self.root))
        try:
            bundle.save(work / "bundle")
            for k, (feeds, expected) in enumerate(sets):
                if {n: v.shape for n, v in feeds.items()} != {n: v.shape for n, v in feeds0.items()}:
                    return "refused", "a later data set has other input shapes; webjit fixes shapes at compile time"
                write_npy_folder(work / f"in{k}", feeds)
                try:
                    error = self.node.run(work / "bundle", work / f"in{k}", work / f"out{k}", 1, 60.0)
                except TimeoutError as exc:
                    return "error", f"hang: {exc}"
                if error:
                    return ("refused" if "int64 value outside" in error else "error"), error[:240]
                for name, want in expected.items():
                    reason = agree(np.load(work / f"out{k}" / npy_file(name)), want, rtol, atol)
                    if reason:
                        return "fail", f"{name}: {reason}"
            return "pass", ""
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def close(self):
        self.node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def run_conformance(backend: str = "wasm", names=None, progress=None, per_op: int | None = None) -> list[CaseResult]:
    """Every node case (or those whose names contain one of `names`, or the first `per_op` of each op)."""
    cases = load_cases()
    if names:
        cases = [c for c in cases if any(n in c.name for n in names)]
    if per_op:
        seen = Counter()
        cases = [c for c in cases if (seen.update([op_of(c)]) or seen[op_of(c)] <= per_op)]
    runner = Runner(backend)
    results = []
    try:
        for i, case in enumerate(cases):
            sets = case_tensors(case)
            rtol, atol = max(case.rtol, RTOL), max(case.atol, ATOL)
            if sets is None:
                results.append(CaseResult(case.name, op_of(case), False, "refused",
                                          "sequences, optionals or maps: webjit runs tensors only", "", ""))
                continue
            scope = in_scope(sets)
            ort, ort_reason = ort_outcome(case, sets, rtol, atol)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                outcome, reason = runner.outcome(case, sets, rtol, atol)
            results.append(CaseResult(case.name, op_of(case), scope, outcome, reason, ort, ort_reason,
                                      narrow_scope(sets)))
            if progress and (i + 1) % 100 == 0:
                progress(i + 1, len(cases), results)
    finally:
        runner.close()
    return results


def report(results: list[CaseResult], backend: str, seconds: float, output: str = "docs/conformance.md",
           per_op: int | None = None) -> str:
    """docs/conformance.md (or, for a sample, the file named by `output`)."""
    scope = [r for r in results if r.in_scope]
    narrow = [r for r in results if r.narrow]
    other = [r for r in results if not r.in_scope and not r.narrow]
    count = lambda rs, key, value: sum(1 for r in rs if getattr(r, key) == value)
    pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "-"
    wj, ort = count(scope, "webjit", "pass"), count(scope, "ort", "pass")
    wrong = [r for r in scope if r.webjit == "fail"]
    lines = [
        "# Conformance: ONNX's backend node cases",
        "",
        f"Written by `webjit conformance --backend {backend}{f' --per-op {per_op}' if per_op else ''} -o {output}` "
        f"({len(results)} cases{f', the first {per_op} of each op' if per_op else ''}, in {seconds:.0f} s). "
        "Each case is compiled by webjit, run by the JS runtime",
        "in Node and compared with the expected outputs onnx ships with it (the case's own tolerance or rtol",
        "1e-3 / atol 1e-5, whichever is looser); onnxruntime (CPU) runs the same cases through the same",
        "comparison. *fail* is a wrong answer; *refused* is one sentence saying what webjit does not do.",
        "A model input that decides a shape (a Reshape's target, Slice bounds, axes ...) is bound from the",
        "case's data, as `webjit compile --const` would (when the shape is computed from inputs, the small",
        "integer inputs are bound); the other inputs stay runtime inputs.",
        "",
        "| cases | count | webjit passes | onnxruntime passes | webjit fails (wrong) | webjit refuses | webjit errors |",
        "|---|---|---|---|---|---|---|",
        f"| float32/int32/int64/bool | {len(scope)} | {wj} ({pct(wj, len(scope))}) | {ort} ({pct(ort, len(scope))}) "
        f"| {len(wrong)} | {count(scope, 'webjit', 'refused')} | {count(scope, 'webjit', 'error')} |",
        f"| float16/float64/int8/uint8/int16/uint16 | {len(narrow)} | {count(narrow, 'webjit', 'pass')} "
        f"| {count(narrow, 'ort', 'pass')} | {count(narrow, 'webjit', 'fail')} | {count(narrow, 'webjit', 'refused')} "
        f"| {count(narrow, 'webjit', 'error')} |",
        f"| other dtypes or values | {len(other)} | {count(other, 'webjit', 'pass')} | {count(other, 'ort', 'pass')} "
        f"| {count(other, 'webjit', 'fail')} | {count(other, 'webjit', 'refused')} | {count(other, 'webjit', 'error')} |",
        "",
        "## Per op (in-scope cases)",
        "",
        "| op | cases | webjit passes | onnxruntime passes |",
        "|---|---|---|---|",
    ]
    by_op: dict[str, list[CaseResult]] = {}
    for r in scope:
        by_op.setdefault(r.op, []).append(r)
    for op in sorted(by_op):
        rs = by_op[op]
        lines.append(f"| {op} | {len(rs)} | {count(rs, 'webjit', 'pass')} | {count(rs, 'ort', 'pass')} |")
    reasons = Counter(_kind(r.webjit_reason) for r in scope if r.webjit != "pass")
    lines += ["", "## Why in-scope cases do not pass, by reason", "", "| reason | cases |", "|---|---|"]
    lines += [f"| {reason} | {n} |" for reason, n in reasons.most_common()]
    lines += ["", "## Every in-scope case that does not pass", "", "| case | outcome | reason |", "|---|---|---|"]
    for r in scope:
        if r.webjit != "pass":
            lines.append(f"| {r.name} | {r.webjit} | {r.webjit_reason.replace('|', '/')} |")
    lines += ["", "## Every float16/float64/8- and 16-bit integer case that does not pass", "",
              "| case | outcome | reason |", "|---|---|---|"]
    for r in narrow:
        if r.webjit != "pass":
            lines.append(f"| {r.name} | {r.webjit} | {r.webjit_reason.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _kind(reason: str) -> str:
    import re
    text = re.sub(r"'[^']*'", "'_'", reason)
    text = re.sub(r"\(nodes: [^)]*\)", "", text)
    return re.sub(r"[-+]?\d[\d.e+-]*", "N", text)[:140]


def main_report(backend: str, output: str | None, progress, per_op: int | None = None) -> tuple[list[CaseResult], str]:
    began = time.perf_counter()
    results = run_conformance(backend, progress=progress, per_op=per_op)
    text = report(results, backend, time.perf_counter() - began, output or "REPORT.md", per_op)
    if output:
        Path(output).write_text(text)
    return results, text
