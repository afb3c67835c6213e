"""The JIT end to end: the candidates `webjit compile --jit` ships, and background tuning in
headless Chromium (WASM and WebGPU) on every run checked against onnxruntime, with wrong and
broken candidates injected, the cache read back after a page reload, and the records merged
into the schedule database."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

import webjit
from webjit.cli import main
from webjit.driver import Driver
from webjit.feeds import make_inputs
from webjit.kernels import spec_from_json
from webjit.runner import write_npy_folder
from webjit.schedule import families
from webjit.schedule_db import ScheduleDB
from webjit.targets import Targets
from webjit.wasm.codegen import wasm_kernel
from webjit.webgpu.codegen import wgsl_kernel
from onnx_builders import conv_model, mlp_model, onnxruntime_outputs

TOLERANCE = 1e-4  # of the largest |output|, on every run


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return mlp_model(tmp_path_factory.mktemp("mlp") / "mlp.onnx")


def compile_jit(model, folder: Path, backends=("wasm", "webgpu")) -> dict:
    webjit.compile(model, None, webjit.Options(backends=backends, jit=True)).save(folder)
    return json.loads((folder / "manifest.json").read_text())


def test_compile_jit_ships_checked_deduplicated_candidates_of_the_hot_kernels(mlp, tmp_path):
    manifest = compile_jit(mlp, tmp_path / "b")
    for backend in ("wasm", "webgpu"):
        hot = [k for k in manifest["kernels"] if k[backend].get("candidates")]
        assert {k["family"] for k in hot} >= {"matmul", "layernorm", "softmax"}, backend
        for kernel in hot:
            part = kernel[backend]
            forms = [part["config"], *(v["config"] for v in part["variants"])]
            configs = [json.dumps(c["config"], sort_keys=True) for c in part["candidates"]]
            assert len(set(configs)) == len(configs), "a config twice"
            assert len({c["sha256"] for c in part["candidates"]}) == len(configs), "the same code twice"
            for c in part["candidates"]:
                assert c["config"] not in forms
                payload = (tmp_path / "b" / c["file"]).read_bytes()
                assert len(payload) == c["bytes"] and hashlib.sha256(payload).hexdigest() == c["sha256"]
                assert set(c["requires"]) <= {"relaxed-simd"}
                if backend == "wasm":
                    assert c["threads"] and set(c["threads"]) <= {1, 2, 4}
                else:
                    assert c["entry"] and len(c["workgroup"]) == 3 and len(c["dispatch"]) == 3
    plain = webjit.compile(mlp, None, webjit.Options())
    assert not any("candidates" in k[b] for k in plain.manifest["kernels"] for b in ("wasm", "webgpu"))


def test_cli_compile_jit_prints_what_the_jit_may_fetch_and_dumps_jit_txt(mlp, tmp_path, capsys):
    assert main(["compile", str(mlp), "-o", str(tmp_path / "b"), "--jit", "--dump", str(tmp_path / "d"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "JIT candidates (wasm):" in out and "fetched only when tuning starts" in out
    text = (tmp_path / "d" / "jit.txt").read_text()
    assert text.startswith("wasm: ") and "\nwebgpu: " in text and " candidates: matmul(" in text


def test_convolution_candidates_read_the_columns_as_the_default_does(tmp_path):
    manifest = compile_jit(conv_model(tmp_path / "convs.onnx"), tmp_path / "b")
    gemms = [k for k in manifest["kernels"] if k["family"] == "matmul" and k["spec"].get("im2col")]
    assert gemms
    for kernel in gemms:
        for backend in ("wasm", "webgpu"):
            part = kernel[backend]
            implicit = bool(part["config"].get("implicit"))
            assert all(bool(c["config"].get("implicit")) == implicit for c in part.get("candidates", []))


# ---- tampering with a bundle, as a test of the runtime's checks --------------------------------

def hottest(manifest: dict, backend: str) -> dict:
    """The MatMul kernel of most flops per run that carries candidates."""
    calls = {}
    for step in manifest["steps"]:
        calls[step["kernel"]] = calls.get(step["kernel"], 0) + 1
    kernels = [k for k in manifest["kernels"] if k["family"] == "matmul" and k[backend].get("candidates")]
    return max(kernels, key=lambda k: k["flops"] * calls[k["id"]])


def write_payload(folder: Path, entry: dict, payload: bytes) -> None:
    (folder / entry["file"]).write_bytes(payload)
    entry.update(bytes=len(payload), sha256=hashlib.sha256(payload).hexdigest())


def make_default_slow(folder: Path, manifest: dict, backend: str) -> None:
    """Every tuned kernel's default becomes its candidate of the worst estimated cost (and that
    default a candidate), so tuning has something certain to find on any machine."""
    fields = ("file", "bytes", "sha256", "config", "requires", "entry", "workgroup", "dispatch")
    for kernel in manifest["kernels"]:
        part = kernel[backend]
        if not part.get("candidates") or kernel["family"] != "matmul":
            continue
        slow = [c for c in part["candidates"] if not c["requires"]][-1]
        default = {f: part[f] for f in fields if f in part}
        for f in fields:
            if f in slow:
                part[f] = slow[f]
        slow.clear()
        slow.update(default, **({"threads": [1, 2, 4]} if backend == "wasm" else {}))


def wrong_code(kernel: dict, backend: str, manifest: dict) -> bytes:
    """Code for the same arguments that computes something else: the MatMul over half its k."""
    spec = spec_from_json(kernel["spec"])
    bad = dataclasses.replace(spec, k=spec.k // 2)
    target = Targets.from_manifest(manifest).of(backend)
    config = families(backend)["matmul"].default_config(bad, target)
    if backend == "wasm":
        return wasm_kernel(bad, config, target).code
    return wgsl_kernel(bad, config, target).source.encode()


def tamper(folder: Path, backend: str) -> tuple[dict, dict]:
    """Slow defaults, and in the hottest kernel the two cheapest-looking candidates replaced by
    a wrong one and one that does not compile; returns (manifest, their configs)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    make_default_slow(folder, manifest, backend)
    kernel = hottest(manifest, backend)
    first, second = kernel[backend]["candidates"][:2]
    write_payload(folder, first, wrong_code(kernel, backend, manifest))
    write_payload(folder, second, b"\x00asm not a module" if backend == "wasm" else b"fn main( {")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest, {"wrong": first["config"], "broken": second["config"], "kernel": kernel["id"]}


def reference_folder(model, manifest: dict, work: Path) -> tuple[Path, Path]:
    feeds = make_inputs(manifest, {})
    write_npy_folder(work / "inputs", feeds)
    write_npy_folder(work / "reference", onnxruntime_outputs(model, feeds))
    return work / "inputs", work / "reference"


def assert_runs_correct_and_never_waiting_twice(answer: dict) -> None:
    runs = answer["runs"]
    worst = max(r["difference"] for r in runs)
    assert worst <= TOLERANCE, f"a run differs from onnxruntime by {worst:.3g}"
    assert max(r["tuning_slices"] for r in runs) <= 1, "a run waited for more than one slice of tuning"
    tuning = answer["tuning"]
    print(f"{len(runs)} runs, longest wait {max(r['wait_ms'] for r in runs):.1f} ms, longest slices "
          f"{tuning['longest_ms']}, {tuning['candidates_measured']} candidates in {tuning['spent_ms']:.0f} ms")


def tune_in_chromium(model, bundle: Path, work: Path, backend: str, budget_ms: int, seconds: float):
    """Opens the bundle with background tuning, runs it until tuning ends or waits for an idle
    page, leaves it idle until tuning ends, reloads the page and opens it again:
    (first answer, reloaded session, its runs, exported records)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    inputs, reference = reference_folder(model, manifest, work)
    with Driver("chromium", backend, [work, bundle]) as driver:
        options = dict(bundle=driver.location(bundle), backend=backend, inputs=driver.location(inputs),
                       tune="background", tuneBudgetMs=budget_ms)
        session = driver.call("open", **options)
        assert session["backend"] == backend
        answer = driver.call("runs", session=session["session"], seconds=seconds, untilTuned=True,
                             reference=driver.location(reference))
        if answer["tuning"]["waiting_for"] == "idle":  # the second round: while the page is idle
            idle = driver.call("idle", session=session["session"], seconds=seconds)
            answer.update(tuning=idle["tuning"], kernels=idle["kernels"], swaps=idle["swaps"])
            after = driver.call("runs", session=session["session"], seconds=60, maxRuns=3,
                                reference=driver.location(reference))
            answer["runs"] += after["runs"]
        records = driver.call("export", session=session["session"])
        driver.reload()  # the same browser profile: IndexedDB keeps what the JIT learned
        again = driver.call("open", **options)
        again_runs = driver.call("runs", session=again["session"], seconds=60, maxRuns=5,
                                 reference=driver.location(reference))
    return answer, again, again_runs, records


def check_tuned_session(answer: dict, injected: dict, records: dict) -> None:
    tuning = answer["tuning"]
    failures = [(r["signature"][:60], f["stage"], f["config"], f["reason"][:200]) for r in records["records"]
                for f in r["failed"]]
    assert tuning["state"] == "done", tuning["note"]
    assert tuning["swaps"] >= 1 and answer["swaps"], "no kernel was swapped"
    assert_runs_correct_and_never_waiting_twice(answer)
    kernel = next(k for k in tuning["kernels"] if k["kernel"] == injected["kernel"])
    assert kernel["state"] == "tuned" and kernel["failed"] >= 2, (kernel, failures)
    for swap in answer["swaps"]:
        if swap["kernel"] == injected["kernel"]:  # (another kernel may have its own code of those configs)
            assert swap["to"] not in (injected["wrong"], injected["broken"]), (swap, injected, failures)
    final = answer["kernels"][injected["kernel"]]["config"]
    assert final not in (injected["wrong"], injected["broken"]), (final, injected, answer["swaps"], failures)


def check_reloaded(first: dict, again: dict, again_runs: dict) -> None:
    """The reloaded page starts with the swapped kernels, as the cache said, and measures
    nothing of a kernel tuned before (and nothing at all when every kernel was)."""
    tuned = {k["kernel"] for k in first["tuning"]["kernels"] if k["state"] == "tuned"}
    swapped = {s["kernel"] for s in first["swaps"]}
    assert again["tuning"]["kernels_cached"] == len(tuned)
    assert {k["id"] for k in again["kernels"] if k["tuned"] == "cache"} == swapped
    for k in again["kernels"]:
        if k["id"] in swapped:
            assert k["config"] == first["kernels"][k["id"]]["config"]
    later = {k["kernel"]: k for k in again_runs["tuning"]["kernels"]}
    assert all(later[i]["state"] == "cached" for i in tuned)
    if tuned == set(later):
        assert again_runs["tuning"]["spent_ms"] == 0 and again_runs["tuning"]["slices"] == 0
    assert max(r["difference"] for r in again_runs["runs"]) <= TOLERANCE


def test_background_tuning_in_chromium_on_wasm(mlp, tmp_path):
    bundle = tmp_path / "bundle"
    compile_jit(mlp, bundle, ("wasm",))
    _, injected = tamper(bundle, "wasm")
    first, again, again_runs, records = tune_in_chromium(mlp, bundle, tmp_path, "wasm", 8000, 60)
    check_tuned_session(first, injected, records)
    check_reloaded(first, again, again_runs)

    # What the page learned goes into the schedule database and the next bundle.
    assert records["format"] == "webjit-schedules" and records["records"]
    stages = {(f["stage"], json.dumps(f["config"], sort_keys=True)) for r in records["records"] for f in r["failed"]}
    assert ("check", json.dumps(injected["wrong"], sort_keys=True)) in stages
    assert ("compile", json.dumps(injected["broken"], sort_keys=True)) in stages
    exported = tmp_path / "exported.json"
    exported.write_text(json.dumps(records))
    db = tmp_path / "db"
    assert main(["schedules", "merge", str(exported), "-o", str(db)]) == 0
    merged = ScheduleDB.load(db)
    assert len(merged.records) == len(records["records"])
    rebuilt = webjit.compile(mlp, None, webjit.Options(backends=("wasm",), schedules=merged))
    variants = [v for k in rebuilt.manifest["kernels"] for v in k["wasm"]["variants"] if v["device"] != "*"]
    assert variants and {v["device"] for v in variants} == {records["device"]}


def test_background_tuning_in_chromium_on_webgpu(mlp, tmp_path):
    bundle = tmp_path / "bundle"
    compile_jit(mlp, bundle, ("webgpu",))
    _, injected = tamper(bundle, "webgpu")
    first, again, again_runs, records = tune_in_chromium(mlp, bundle, tmp_path, "webgpu", 25000, 150)
    check_tuned_session(first, injected, records)
    check_reloaded(first, again, again_runs)



@pytest.mark.slow
def test_minilm_jit_in_chromium_against_the_offline_tuned_bundle(tmp_path):
    """MiniLM-L6 (real weights, sequence 128) run back to back for 45 s with background tuning,
    every run against onnxruntime; then the tuned session, the offline-tuned bundle of
    `webjit tune` (same budget) and the default bundle side by side (`webjit bench jit`)."""
    from webjit.jit_bench import bench_jit, report_text
    from webjit.models import example_inputs, export_model
    path = export_model("minilm", size="full", seq=128)
    shapes = {k: v.shape for k, v in example_inputs("minilm", size="full", seq=128).items()}
    result = bench_jit(path, shapes, backend="wasm", budget_s=30, seconds=45, out_dir=tmp_path)
    print(report_text(result))
    assert result.worst_difference <= TOLERANCE
    assert result.tuning_after_use["swaps"] >= 1 and result.swaps
    assert max(r["tuning_slices"] for r in result.runs) <= 1, "a run waited for more than one slice of tuning"
    assert result.tuning["state"] == "done", result.tuning["note"]
    assert (tmp_path / "jit-minilm-full-legacy-op17-b1-s128-wasm-chromium.png").stat().st_size > 10000
