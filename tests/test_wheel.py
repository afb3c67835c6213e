"""The wheel works alone: built from the checkout (which the build leaves as it was),
installed into a fresh virtual environment and used from a folder outside the checkout:
compile (with --dim), run in Node and through the Python API's run; Chromium refused in one
sentence until the `browser` extra is installed, then run there too; each against numpy. In the slow suite: installing into a fresh
environment fetches every dependency through pip (1-4 minutes here)."""
from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]


def git_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv's bin folder, a work folder outside the checkout, the wheel): the wheel alone, no extras."""
    temp = tmp_path_factory.mktemp("wheel")
    before = git_state()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(temp / "dist"), str(ROOT)], check=True, capture_output=True)
    assert git_state() == before, "building the wheel changed the checkout"
    wheel = next((temp / "dist").glob("webjit-*.whl"))
    venv.EnvBuilder(with_pip=True).create(temp / "venv")
    bin_dir = temp / "venv" / "bin"
    pip_install(bin_dir, str(wheel))
    work = temp / "work"
    work.mkdir()
    return bin_dir, work, wheel


def pip_install(bin_dir: Path, requirement: str) -> None:
    subprocess.run([str(bin_dir / "pip"), "install", "-q", "--disable-pip-version-check", requirement],
                   check=True, capture_output=True)


def tiny_model(path: Path) -> np.ndarray:
    weight = np.random.default_rng(3).standard_normal((8, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return weight


def run(bin_dir: Path, work: Path, *args: str, status: int = 0) -> str:
    result = subprocess.run([str(a) for a in args], cwd=work, capture_output=True, text=True,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work)})
    assert result.returncode == status, result.stderr
    return result.stdout if status == 0 else result.stderr


def test_the_installed_wheel_compiles_and_runs_outside_the_checkout(installed):
    bin_dir, work, wheel = installed
    weight = tiny_model(work / "tiny.onnx")
    x = np.random.default_rng(4).standard_normal((2, 8)).astype(np.float32)
    np.save(work / "x.npy", x)
    expected = np.maximum(x @ weight, 0)
    where = run(bin_dir, work, bin_dir / "python", "-c",
                "import webjit.runner as r; print(r.runtime_dir())").strip()
    assert "site-packages" in where and not where.startswith(str(ROOT)), where
    run(bin_dir, work, bin_dir / "webjit", "compile", "tiny.onnx", "--dim", "batch=2", "-o", "tiny.webjit", "-q")

    def check_run(browser):
        run(bin_dir, work, bin_dir / "webjit", "run", "tiny.webjit", "--browser", browser, "--input", "x=x.npy",
            "--save-outputs", f"out-{browser}")
        np.testing.assert_allclose(np.load(work / f"out-{browser}" / "y.npy"), expected, rtol=1e-5, atol=1e-6)

    check_run("node")  # the wheel alone and Node
    script = ("import json, numpy as np, webjit\n"
              "r = webjit.run('tiny.webjit', {'x': np.load('x.npy')}, browser='node')\n"
              "print(json.dumps({'y': r.outputs['y'].tolist(), 'backend': r.backend}))")
    result = json.loads(run(bin_dir, work, bin_dir / "python", "-c", script))
    assert result["backend"] == "wasm"
    np.testing.assert_allclose(np.array(result["y"], np.float32), expected, rtol=1e-5, atol=1e-6)
    refusal = run(bin_dir, work, bin_dir / "webjit", "run", "tiny.webjit", status=2)
    assert refusal == "webjit: error: the Python package playwright is not installed; pip install 'webjit[browser]', " \
                      "or use --browser node\n"
    pip_install(bin_dir, f"webjit[browser] @ {wheel.as_uri()}")  # the extra adds what Chromium needs
    check_run("chromium")
