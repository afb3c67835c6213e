"""`webjit bench` keeps working: one small model, two runs per engine, every engine in one
headless Chromium (no timing assertions: the machines are shared)."""
from __future__ import annotations

import json

from webjit.cli import main


def test_bench_runs_every_engine_on_a_small_model(tmp_path, capsys):
    assert main(["bench", "minilm", "--size", "small", "--runs", "2", "--warmup", "0.5s", "--threads", "1,2",
                 "-o", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-small-chromium.json").read_text())
    rows = {(r["engine"], r["threads"]): r for r in results["rows"]}
    assert set(rows) == {("webjit-wasm", 1), ("webjit-wasm", 2), ("ort-wasm", 1), ("ort-wasm", 2),
                         ("webjit-webgpu", None), ("ort-webgpu", None)}
    for key, row in rows.items():
        assert "error" not in row, (key, row)
        assert row["runs"] == 2 and row["max_error"] < 1e-4 and row["load_ms"] > 0, (key, row)
    assert rows[("webjit-wasm", 2)]["threads"] == 2
    assert {(r["kind"], r["threads"]) for r in results["roofline"]} == {
        ("mul+add", 1), ("mul+add", 2), ("relaxed fma", 1), ("relaxed fma", 2)}
    assert all(r["gflops"] > 0 for r in results["roofline"])
    assert rows[("webjit-wasm", 1)]["profile"]["matmul_share"] > 0
    table = (tmp_path / "bench-small-chromium.md").read_text()
    assert "| minilm | wasm | 2 |" in table and "of fma peak" in table
    for backend in ("wasm", "webgpu"):
        assert (tmp_path / f"bench-small-chromium-{backend}.png").stat().st_size > 1000
    assert "results in" in capsys.readouterr().out
