"""Fusion of elementwise chains: into MatMul / Conv epilogues and into one elementwise kernel.

Each test checks the step list of the compiled bundle (how many kernels run, of which
family) and the numbers against onnxruntime, on the WASM backend in Node.
"""
from __future__ import annotations

import math

import pytest

import webjit
from webjit.runner import run_bundle

from onnx_builders import build_model, check_close, input_values, model_shapes, reference_outputs
from op_cases import graph, k, w, x

SQRT2 = math.sqrt(2.0)


def families(bundle) -> list[str]:
    kernels = bundle.manifest["kernels"]
    return [kernels[step["kernel"]]["family"] for step in bundle.manifest["steps"]]


def compile_and_run(case, tmp_path, threads=1):
    feeds, constants = input_values(case)
    model = build_model(case, constants)
    bundle = webjit.compile(model, model_shapes(case))
    bundle.save(tmp_path / "bundle")
    result = run_bundle(tmp_path / "bundle", feeds, backend="wasm", browser="node", threads=threads)
    reference = reference_outputs(model, feeds)
    for name in case["outputs"]:
        check_close(f"{case['name']}/{name}", result.outputs[name], reference[name])
    return bundle


def matmul_gelu_residual_case(m=5, kdim=24, n=16):
    """y = gelu_erf(x @ W + b) + r, with GELU written out as exporters do."""
    inputs = [x("x", (2, m, kdim)), w("W", (kdim, n)), w("b", (n,)), x("r", (2, m, n)),
              k("sqrt2", SQRT2, "float32"), k("one", 1.0, "float32"), k("half", 0.5, "float32")]
    nodes = [("MatMul", ["x", "W"], ["mm"]), ("Add", ["mm", "b"], ["h"]),
             ("Div", ["h", "sqrt2"], ["hs"]), ("Erf", ["hs"], ["e"]), ("Add", ["e", "one"], ["e1"]),
             ("Mul", ["h", "e1"], ["he"]), ("Mul", ["he", "half"], ["g"]), ("Add", ["g", "r"], ["y"])]
    return graph("fusion_matmul_bias_gelu_residual", inputs, nodes, ["y"])


def test_matmul_bias_gelu_residual_is_one_matmul_step(tmp_path):
    bundle = compile_and_run(matmul_gelu_residual_case(), tmp_path)
    assert families(bundle) == ["matmul"], bundle.manifest["steps"]


def test_matmul_bias_gelu_residual_two_threads(tmp_path):
    bundle = compile_and_run(matmul_gelu_residual_case(m=33, kdim=40, n=36), tmp_path, threads=2)
    assert families(bundle) == ["matmul"]


def test_matmul_gelu_op_is_one_matmul_step(tmp_path):
    inputs = [x("x", (7, 13)), w("W", (13, 5)), w("b", (5,))]
    nodes = [("MatMul", ["x", "W"], ["mm"]), ("Add", ["mm", "b"], ["h"]), ("Gelu", ["h"], ["y"])]
    bundle = compile_and_run(graph("fusion_matmul_gelu_op", inputs, nodes, ["y"], opset=20), tmp_path)
    assert families(bundle) == ["matmul"]


def test_conv_batchnorm_relu_is_one_matmul_after_im2col(tmp_path):
    inputs = [x("x", (1, 3, 9, 9)), w("w", (8, 3, 3, 3)), w("cb", (8,)), w("s", (8,)), w("bb", (8,)),
              w("mean", (8,)), w("var", (8,), fill="positive")]
    nodes = [("Conv", ["x", "w", "cb"], ["c"], {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
             ("BatchNormalization", ["c", "s", "bb", "mean", "var"], ["n"]), ("Relu", ["n"], ["y"])]
    bundle = compile_and_run(graph("fusion_conv_bn_relu", inputs, nodes, ["y"]), tmp_path)
    assert families(bundle) == ["im2col", "matmul"], bundle.manifest["steps"]


def test_conv_1x1_batchnorm_relu_is_one_matmul_step(tmp_path):
    inputs = [x("x", (2, 6, 5, 5)), w("w", (4, 6, 1, 1)), w("s", (4,)), w("bb", (4,)), w("mean", (4,)),
              w("var", (4,), fill="positive")]
    nodes = [("Conv", ["x", "w"], ["c"]), ("BatchNormalization", ["c", "s", "bb", "mean", "var"], ["n"]),
             ("Relu", ["n"], ["y"])]
    bundle = compile_and_run(graph("fusion_conv1x1_bn_relu", inputs, nodes, ["y"]), tmp_path)
    assert families(bundle) == ["matmul"], bundle.manifest["steps"]


def test_depthwise_conv_batchnorm_hardswish_is_one_depthwise_step(tmp_path):
    inputs = [x("x", (2, 6, 9, 13)), w("w", (6, 1, 3, 3)), w("s", (6,)), w("bb", (6,)), w("mean", (6,)),
              w("var", (6,), fill="positive")]
    nodes = [("Conv", ["x", "w"], ["c"], {"group": 6, "pads": [1, 1, 1, 1]}),
             ("BatchNormalization", ["c", "s", "bb", "mean", "var"], ["n"]), ("HardSwish", ["n"], ["y"])]
    bundle = compile_and_run(graph("fusion_dw_bn_hardswish", inputs, nodes, ["y"], opset=14), tmp_path, threads=2)
    assert families(bundle) == ["depthwise"], bundle.manifest["steps"]


def test_group_conv_with_two_filters_per_channel_stays_a_matmul(tmp_path):
    inputs = [x("x", (1, 4, 7, 7)), w("w", (8, 1, 3, 3)), w("b", (8,))]
    nodes = [("Conv", ["x", "w", "b"], ["c"], {"group": 4, "pads": [1, 1, 1, 1]}), ("Relu", ["c"], ["y"])]
    bundle = compile_and_run(graph("fusion_group_conv_multiplier2", inputs, nodes, ["y"]), tmp_path)
    assert families(bundle) == ["im2col", "matmul"], bundle.manifest["steps"]


def test_elementwise_chain_with_broadcast_is_one_step(tmp_path):
    inputs = [x("x", (2, 3, 17)), x("scale", (3, 1)), w("shift", (17,)), k("two", 2.0, "float32")]
    nodes = [("Mul", ["x", "scale"], ["a"]), ("Add", ["a", "shift"], ["b"]), ("Sigmoid", ["b"], ["s"]),
             ("Mul", ["s", "x"], ["m"]), ("Pow", ["m", "two"], ["y"])]
    bundle = compile_and_run(graph("fusion_elementwise_broadcast", inputs, nodes, ["y"]), tmp_path)
    assert families(bundle) == ["elementwise"], bundle.manifest["steps"]


def test_shared_intermediate_is_not_fused_away(tmp_path):
    """A value read by two consumers is stored once and both results stay right."""
    inputs = [x("x", (4, 9)), w("W", (9, 6))]
    nodes = [("MatMul", ["x", "W"], ["mm"]), ("Relu", ["mm"], ["y0"]), ("Tanh", ["mm"], ["y1"])]
    bundle = compile_and_run(graph("fusion_shared_intermediate", inputs, nodes, ["y0", "y1"]), tmp_path)
    assert families(bundle).count("matmul") == 1


@pytest.mark.parametrize("residual_shape", [(2, 5, 16), (5, 1), (16,)])
def test_matmul_epilogue_broadcast_residuals(tmp_path, residual_shape):
    inputs = [x("x", (2, 5, 12)), w("W", (12, 16)), x("r", residual_shape)]
    nodes = [("MatMul", ["x", "W"], ["mm"]), ("Mul", ["mm", "r"], ["y"])]
    bundle = compile_and_run(graph(f"fusion_residual_{len(residual_shape)}", inputs, nodes, ["y"]), tmp_path)
    assert families(bundle) == ["matmul"]
