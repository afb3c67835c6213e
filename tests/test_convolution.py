"""ConvTranspose, 3-d Conv and MaxUnpool as webjit writes them at import (convolution.py), over
many geometries: the imported graph run by the numpy reference interpreter against
onnxruntime (the kernels run the same graphs in test_ops_wasm.py and test_ops_webgpu.py)."""
from __future__ import annotations

import numpy as np
import pytest

import webjit
from webjit.errors import UnsupportedError
from webjit.frontend import import_onnx
from webjit.reference import run_reference
from webjit.runner import run_bundle

from onnx_builders import build_model, check_close, input_values, model_shapes, reference_outputs
from op_cases import op, w, x


def _geometries(seed: int, count: int):
    """Random ConvTranspose geometries: 1-d to 3-d, strides, dilations, pads, output_padding (below the
    stride, as onnxruntime requires), groups."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = 1 + i % 3
        group = int(rng.integers(1, 3))
        strides = rng.integers(1, 4, n).tolist()
        dilations = rng.integers(1, 3, n).tolist()
        kernel = rng.integers(1, 4, n).tolist()
        pads = [int(rng.integers(0, k_)) for k_ in kernel] + [int(rng.integers(0, k_)) for k_ in kernel]
        output_padding = [int(rng.integers(0, s)) for s in strides]
        sizes = rng.integers(2, 6 if n < 3 else 4, n).tolist()
        attrs = {"strides": strides, "dilations": dilations, "pads": pads, "output_padding": output_padding,
                 "group": group}
        yield (f"ConvTranspose_geometry_{i}", [1 + i % 2, 2 * group] + sizes, [2 * group, 1 + i % 3] + kernel, attrs)


def _reference_matches(case):
    feeds, constants = input_values(case)
    model = build_model(case, constants)
    want = reference_outputs(model, feeds)
    got = run_reference(import_onnx(model, model_shapes(case)), feeds)
    for name in case["outputs"]:
        check_close(f"{case['name']}/{name}", got[name], want[name])


@pytest.mark.parametrize("name,xs,ws,attrs", list(_geometries(7, 24)))
def test_conv_transpose_geometries(name, xs, ws, attrs):
    runtime = int(name.rsplit("_", 1)[1]) % 2  # every other case takes its filter at run time
    weight = x("w", ws) if runtime else w("w", ws)
    _reference_matches(op(name, "ConvTranspose", [x("x", xs), weight, w("b", (ws[1] * attrs["group"],))], attrs))


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_transpose_auto_pad(auto_pad):
    _reference_matches(op(f"ConvTranspose_{auto_pad}", "ConvTranspose", [x("x", (1, 2, 4, 5)), w("w", (2, 3, 3, 3))],
                          {"strides": [2, 3], "auto_pad": auto_pad}))


def test_conv_transpose_same_with_a_short_filter_is_input_times_stride():
    """SAME with a filter shorter than the stride: ONNX (spec and reference) makes the output
    input * stride, padding with negative pads; onnxruntime clamps the pads at 0 (one short)."""
    from onnx.reference import ReferenceEvaluator
    case = op("ConvTranspose_same_short", "ConvTranspose", [x("x", (1, 2, 3, 5)), w("w", (2, 3, 2, 2))],
              {"strides": [3, 3], "auto_pad": "SAME_LOWER"})
    feeds, constants = input_values(case)
    model = build_model(case, constants)
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    got = run_reference(import_onnx(model, model_shapes(case)), feeds)["y"]
    assert got.shape == (1, 3, 9, 15)
    check_close("ConvTranspose SAME short filter", got, want)


@pytest.mark.parametrize("runtime", [0, 1])
def test_conv_3d_groups_dilations(runtime):
    weight = x("w", (4, 1, 2, 3, 2)) if runtime else w("w", (4, 1, 2, 3, 2))
    _reference_matches(op(f"Conv_3d_{runtime}", "Conv", [x("x", (2, 2, 5, 6, 4)), weight, w("b", (4,))],
                          {"group": 2, "strides": [1, 2, 1], "dilations": [2, 1, 1], "pads": [1, 0, 1, 0, 2, 1]}))


def test_max_unpool_of_foreign_indices_is_nan(tmp_path):
    """An index outside its input's pooling window cannot be placed without a scatter: the
    whole output is NaN, never a plausible wrong tensor."""
    case = op("MaxUnpool_stray", "MaxUnpool", [x("x", (1, 1, 2, 2)), x("i", (1, 1, 2, 2), "int64")],
              {"kernel_shape": [2, 2], "strides": [2, 2]})
    model = build_model(case, {})
    bundle = webjit.compile(model, model_shapes(case))
    bundle.save(tmp_path / "bundle")
    values = np.array([[[[1, 2], [3, 4]]]], np.float32)
    good = np.array([[[[5, 2], [8, 15]]]], np.int64)
    result = run_bundle(tmp_path / "bundle", {"x": values, "i": good}, backend="wasm", browser="node", threads=1)
    check_close("MaxUnpool in-window", result.outputs["y"], reference_outputs(model, {"x": values, "i": good})["y"])
    stray = np.array([[[[5, 2], [0, 15]]]], np.int64)  # 0 is outside the third window
    result = run_bundle(tmp_path / "bundle", {"x": values, "i": stray}, backend="wasm", browser="node", threads=1)
    assert np.isnan(result.outputs["y"]).all()


def test_refusals_name_the_node():
    four = op("ConvTranspose_4d", "ConvTranspose", [x("x", (1, 1, 2, 2, 2, 2)), w("w", (1, 1, 1, 1, 1, 1))])
    with pytest.raises(UnsupportedError, match="ConvTranspose 'ConvTranspose_0' has a 6-d input"):
        import_onnx(build_model(four, input_values(four)[1]), model_shapes(four))
    adaptive = op("RoiAlign_adaptive", "RoiAlign", [x("x", (1, 1, 6, 6)), x("rois", (2, 4), fill="positive"),
                                                    x("bi", (2,), "int64", fill="range", range=[0, 1])],
                  {"output_height": 2, "output_width": 2}, opset=16)
    with pytest.raises(UnsupportedError, match="RoiAlign 'RoiAlign_0' has sampling_ratio 0"):
        import_onnx(build_model(adaptive, input_values(adaptive)[1]), model_shapes(adaptive))
