"""ONNX's backend node cases (webjit conformance): the whole suite on WASM in Node, per commit.
No case may give a wrong answer or fail inside webjit; every refusal is one sentence; the
pass count may only grow (docs/conformance.md has the table)."""
from __future__ import annotations

import pytest

from webjit.conformance import report, run_conformance

PASSING_AT_LEAST = 1359  # in-scope cases passing when docs/conformance.md was written
NARROW_PASSING_AT_LEAST = 205  # float16/float64/8- and 16-bit integer cases passing then


@pytest.fixture(scope="module")
def results():
    return run_conformance("wasm")


def test_no_node_case_gives_a_wrong_answer_or_an_internal_error(results):
    bad = [f"{r.name}: {r.webjit} ({r.webjit_reason})" for r in results if r.webjit in ("fail", "error")]
    assert not bad, "\n".join(bad)


def test_every_refusal_is_one_sentence(results):
    for r in results:
        if r.webjit == "refused":
            assert r.webjit_reason and "\n" not in r.webjit_reason and "Traceback" not in r.webjit_reason, r.name


def test_the_pass_count_does_not_drop(results):
    passed = sum(1 for r in results if r.in_scope and r.webjit == "pass")
    assert passed >= PASSING_AT_LEAST, f"{passed} in-scope cases pass, fewer than {PASSING_AT_LEAST}"
    assert sum(1 for r in results if r.in_scope) >= 1300  # the onnx package's cases, not a subset
    narrow = sum(1 for r in results if r.narrow and r.webjit == "pass")
    assert narrow >= NARROW_PASSING_AT_LEAST, f"{narrow} float16/8-bit cases pass, fewer than {NARROW_PASSING_AT_LEAST}"


def test_the_report_counts_onnxruntime_too(results):
    text = report(results, "wasm", 1.0)
    assert "| float32/int32/int64/bool |" in text and "onnxruntime passes" in text
    assert sum(1 for r in results if r.in_scope and r.ort == "pass") > 1200  # the same comparison passes for it


WEBGPU_SAMPLE_PASSING_AT_LEAST = 303  # in-scope cases of the --per-op 2 sample passing (docs/conformance-webgpu.md)


@pytest.mark.slow
def test_a_sample_of_every_op_on_webgpu():
    """The first two node cases of every op on WebGPU (Dawn on SwiftShader, ~3 minutes): no wrong
    answer, no internal error, the pass count never drops."""
    results = run_conformance("webgpu", per_op=2)
    bad = [f"{r.name}: {r.webjit} ({r.webjit_reason})" for r in results if r.webjit in ("fail", "error")]
    assert not bad, "\n".join(bad)
    passed = sum(1 for r in results if r.in_scope and r.webjit == "pass")
    assert passed >= WEBGPU_SAMPLE_PASSING_AT_LEAST, f"{passed} sampled in-scope cases pass on WebGPU"
