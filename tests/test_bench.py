"""`webjit bench` keeps working: small models, two runs per engine, every engine in one
headless Chromium (no timing assertions: the machines are shared); `webjit bench compile`
measures webjit's compile cost always and TVM's only where apache-tvm imports; `webjit bench
lengths` runs one symbolic bundle at several lengths."""
from __future__ import annotations

import json
import numbers

import pytest

from webjit import compile_bench
from webjit.cli import main
from webjit.bench_report import NOT_MEASURABLE, gpu_roofline_text, memory_table, roofline_table
from webjit.roofline import webgpu_roofline_shader


def measured(value) -> bool:
    """A memory figure is a byte count or the explicit marker, never missing."""
    return value == NOT_MEASURABLE or (isinstance(value, numbers.Number) and value > 0)


def check_rows(rows: dict) -> None:
    for key, row in rows.items():
        assert "error" not in row, (key, row)
        assert row["runs"] == 2 and row["max_error"] < 1e-4 and row["load_ms"] > 0, (key, row)
        gpu = key[1].endswith("webgpu")
        assert measured(row["js_heap_bytes"]), (key, row)
        assert measured(row["gpu_buffer_peak_bytes"]) if gpu else row["gpu_buffer_peak_bytes"] is None, (key, row)
        if key[1] == "webjit-webgpu":
            assert row["wasm_memory_bytes"] is None  # webjit's WebGPU engine has no WASM memory
        else:
            assert measured(row["wasm_memory_bytes"]), (key, row)


def test_bench_runs_every_engine_on_a_small_model(tmp_path, capsys):
    assert main(["bench", "minilm", "--size", "small", "--runs", "2", "--warmup", "0.5s", "--threads", "1,2",
                 "-o", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-small-chromium.json").read_text())
    rows = {(r["model"], r["engine"], r["threads"]): r for r in results["rows"]}
    assert set(rows) == {("minilm", "webjit-wasm", 1), ("minilm", "webjit-wasm", 2), ("minilm", "ort-wasm", 1),
                         ("minilm", "ort-wasm", 2), ("minilm", "webjit-webgpu", None), ("minilm", "ort-webgpu", None)}
    check_rows(rows)
    assert rows[("minilm", "webjit-wasm", 2)]["threads"] == 2
    assert {(r["kind"], r["threads"]) for r in results["roofline"]} == {
        ("mul+add", 1), ("mul+add", 2), ("relaxed fma", 1), ("relaxed fma", 2)}
    assert all(r["gflops"] > 0 for r in results["roofline"])
    gpu_peak = results["webgpu_roofline"]
    assert gpu_peak["gflops"] > 0 and gpu_peak["timer"] in ("timestamp queries", "onSubmittedWorkDone"), gpu_peak
    assert isinstance(gpu_peak["software"], bool) and gpu_peak["adapter"]["vendor"], gpu_peak
    assert rows[("minilm", "webjit-wasm", 1)]["profile"]["matmul_share"] > 0
    assert rows[("minilm", "webjit-webgpu", None)]["profile"]["matmul_gflops"] > 0
    table = (tmp_path / "bench-small-chromium.md").read_text()
    assert "| minilm | wasm | 2 |" in table and "| minilm | webgpu | - |" in table and "of fma peak" in table
    assert "of WebGPU fma peak" in table and "WebGPU roofline: " in table
    assert ("predict nothing about real GPUs" in table) == gpu_peak["software"]  # SwiftShader is marked
    assert "| minilm | ort-webgpu | - |" in table and "GPU buffers, peak (MiB)" in table
    for chart in ("wasm", "webgpu", "roofline"):
        assert (tmp_path / f"bench-small-chromium-{chart}.png").stat().st_size > 1000
    assert "results in" in capsys.readouterr().out


def test_bench_runs_the_small_mobilenetv3_on_wasm(tmp_path):
    """The zoo's MobileNetV3-large (small form) as a bench model; WASM only (SwiftShader takes
    minutes to build its pipelines), so the WebGPU roofline says in one line why it is missing."""
    assert main(["bench", "mobilenetv3", "--size", "small", "--runs", "2", "--warmup", "0.5s", "--threads", "1",
                 "--engines", "webjit-wasm,ort-wasm", "-o", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-small-chromium.json").read_text())
    rows = {(r["model"], r["engine"], r["threads"]): r for r in results["rows"]}
    assert set(rows) == {("mobilenetv3", "webjit-wasm", 1), ("mobilenetv3", "ort-wasm", 1)}
    check_rows(rows)
    assert rows[("mobilenetv3", "webjit-wasm", 1)]["profile"]["matmul_share"] > 0
    assert results["webgpu_roofline"] == {"missing": "no WebGPU engine was asked for (--engines)"}
    table = (tmp_path / "bench-small-chromium.md").read_text()
    assert "| mobilenetv3 | wasm | 1 |" in table and "| mobilenetv3 | ort-wasm | 1 |" in table
    assert "WebGPU roofline: not measured: no WebGPU engine was asked for" in table


def test_bench_lengths_runs_one_symbolic_bundle_at_each_length(tmp_path, capsys):
    """`webjit bench lengths`: the symbolic bundle and onnxruntime-web at each length, the fixed
    bundle once, every output checked against onnxruntime."""
    assert main(["bench", "lengths", "bert", "--size", "small", "--lengths", "4,9", "--max-length", "16",
                 "--threads", "1", "--runs", "2", "--warmup", "0.2s", "-o", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-lengths-bert.json").read_text())
    rows = {(r["bundle"], r["length"]): r for r in results["rows"]}
    assert set(rows) == {("symbolic", 4), ("ort", 4), ("fixed", 9), ("symbolic", 9), ("ort", 9)}
    for key, row in rows.items():
        assert "error" not in row and row["runs"] == 2 and row["max_error"] < 1e-4, (key, row)
    assert "| 1 | 4 |" in (tmp_path / "bench-lengths-bert.md").read_text()
    assert "bench-lengths-bert" in capsys.readouterr().out


def test_tables_mark_what_is_not_measurable():
    results = {"roofline": [{"kind": "mul+add", "threads": 1, "gflops": 40.0},
                            {"kind": "relaxed fma", "threads": 1, "gflops": 50.0}],
               "webgpu_roofline": {"missing": "this browser has no WebGPU (navigator.gpu is undefined)"},
               "rows": [{"model": "m", "engine": "webjit-wasm", "threads": 1, "js_heap_bytes": NOT_MEASURABLE,
                         "wasm_memory_bytes": 2 ** 21, "gpu_buffer_peak_bytes": None,
                         "profile": {"matmul_gflops": 20.0, "matmul_share": 0.9}},
                        {"model": "m", "engine": "webjit-webgpu", "threads": None, "js_heap_bytes": 2 ** 20,
                         "wasm_memory_bytes": None, "gpu_buffer_peak_bytes": NOT_MEASURABLE,
                         "profile": {"matmul_gflops": 1.0, "matmul_share": 0.5}}]}
    assert "| m | webjit-wasm | 1 | not measurable | 2.0 | - |" in memory_table(results)
    assert "| m | webjit-webgpu | - | 1.0 | - | not measurable |" in memory_table(results)
    roofline = roofline_table(results)
    assert "| m | wasm | 1 | 20.0 | 50% | 40% | - | 10.0% |" in roofline
    assert "| m | webgpu | - | 1.0 | - | - | - | 50.0% |" in roofline  # no adapter peak to divide by
    assert gpu_roofline_text(results["webgpu_roofline"]) == (
        "WebGPU roofline: not measured: this browser has no WebGPU (navigator.gpu is undefined)")


def test_webgpu_roofline_shader_is_register_only():
    shader = webgpu_roofline_shader(accumulators=3, unroll=2)
    loop = shader[shader.index("for ("):shader.index("out[id.x]")]
    assert loop.count("fma(") == 6 and "out" not in loop and "params" in loop.split("{")[0]
    assert shader.count("out[") == 1  # one store, after the loop


def test_compile_cost_measures_webjit_and_says_how_to_get_tvm(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compile_bench, "tvm_available", lambda: False)
    assert main(["bench", "compile", "mobilenetv3", "--size", "small", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "apache-tvm is not installed" in out and "pip install 'webjit[bench-tvm]'" in out
    results = json.loads((tmp_path / "compile-small.json").read_text())
    (row,) = results["models"]
    for backend in ("webgpu", "wasm"):
        ours, candidates = row[f"webjit_{backend}"], row[f"candidates_{backend}"]
        assert ours["kernels"] > 10 and 0 < ours["kernels_s"] < ours["total_s"], ours
        assert set(ours["stages_s"]) >= {"import", "lowering", "kernels", "weights"}, ours
        assert candidates["candidates"] > candidates["tunable_kernels"] > 0 and candidates["seconds"] > 0
        assert candidates["failed"] == 0, candidates
    assert "tvm" not in row
    assert "| mobilenetv3 | webgpu |" in (tmp_path / "compile-small.md").read_text()


def test_compile_cost_against_tvm(tmp_path):
    pytest.importorskip("tvm", reason="TVM's side of the compile cost needs the optional bench-tvm extra "
                               "(pip install 'webjit[bench-tvm]'), which CI does not install")
    results = compile_bench.compile_cost(["mobilenetv3"], "small", report=lambda line: None)
    tvm = results["models"][0]["tvm"]
    assert "error" not in tvm, tvm
    assert tvm["build_s"] > 0 and tvm["import_s"] > 0 and results["tvm"] == compile_bench.TVM_VERSION
    assert "x |" in compile_bench.compile_table(results)


def test_bench_generate_times_prompt_and_decode_on_both_engines(tmp_path, capsys):
    """`webjit bench generate`: webjit's session.generate and onnxruntime-web's greedy loop with
    its KV cache, on WASM and on WebGPU, each checked token for token against onnxruntime."""
    assert main(["bench", "generate", "--size", "small", "--contexts", "6,12", "--decode-steps", "3",
                 "--threads", "1", "--runs", "2", "--warmup", "0.2s", "-o", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-generate-small.json").read_text())
    rows = {(r["engine"], r["context"]): r for r in results["rows"]}
    assert set(rows) == {(e, c) for e in ("webjit-wasm", "ort-wasm", "webjit-webgpu", "ort-webgpu") for c in (6, 12)}
    for key, row in rows.items():
        assert "error" not in row, (key, row)
        assert row["matches_onnxruntime"] and len(row["tokens"]) == 4 and row["prompt"] == key[1] - 3, (key, row)
        assert len(row["prefill_runs_ms"]) == 2 and row["prefill_tokens_per_s"] > 0 and row["decode_ms_per_token"] > 0
    table = (tmp_path / "bench-generate-small.md").read_text()
    assert "| wasm | 1 | 12 | 9 |" in table and "| webgpu | - | 12 | 9 |" in table
    assert "bench-generate-small" in capsys.readouterr().out
