"""The merged decoder test model (`export_model('gpt2-merged')`): one ONNX file holding GPT-2
without and with a KV cache behind an If on a `use_cache_branch` input, as optimum's
decoder_model_merged.onnx has it. Both branches read the outer graph's inputs and weights:
the first step of a generation feeds use_cache_branch = false (its past inputs are then
unused), every later step true with the cache.

Built here from two exports of one seeded torch module: the no-cache decoder (inputs
input_ids and attention_mask, outputs logits and present.*) and gpt2-past. Weights the two
exports both hold (the same bytes) are kept once, in the outer graph; any other initializer
moves there under a branch prefix.
"""
from __future__ import annotations

import hashlib
import pathlib

import numpy as np

from .errors import ModelError

CONDITION = "use_cache_branch"


def merge_decoders(no_past, with_past):
    """One ModelProto: If(use_cache_branch) with `with_past` as then-branch and `no_past` as
    else-branch; the outer inputs are with_past's plus the condition (bool[1])."""
    import onnx
    from onnx import helper, numpy_helper

    by_content: dict[tuple, str] = {}  # (dtype, dims, bytes digest) -> outer name
    outer_initializers, outer_names = [], set()

    def adopt(model, prefix: str) -> dict[str, str]:
        renames = {}
        for init in model.graph.initializer:
            key = (init.data_type, tuple(init.dims), hashlib.sha256(numpy_helper.to_array(init).tobytes()).hexdigest())
            if key not in by_content:
                name = init.name if init.name not in outer_names else f"{prefix}/{init.name}"
                copy = onnx.TensorProto()
                copy.CopyFrom(init)
                copy.name = name
                outer_initializers.append(copy)
                outer_names.add(name)
                by_content[key] = name
            renames[init.name] = by_content[key]
        return renames

    def branch(model, prefix: str, name: str):
        renames = adopt(model, prefix)
        nodes = []
        for node in model.graph.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.input[:] = [renames.get(i, i) for i in node.input]
            nodes.append(copy)
        return helper.make_graph(nodes, name, [], list(model.graph.output))

    then_graph = branch(with_past, "with_past", "with_past")
    else_graph = branch(no_past, "no_past", "no_past")
    if [o.name for o in then_graph.output] != [o.name for o in else_graph.output]:
        raise ModelError("the decoders to merge must have the same outputs in the same order")
    condition = helper.make_tensor_value_info(CONDITION, onnx.TensorProto.BOOL, [1])
    node = helper.make_node("If", [CONDITION], [o.name for o in with_past.graph.output], "decoder::if",
                            then_branch=then_graph, else_branch=else_graph)
    graph = helper.make_graph([node], "merged", list(with_past.graph.input) + [condition],
                              list(with_past.graph.output), outer_initializers)
    merged = helper.make_model(graph, opset_imports=list(with_past.opset_import), producer_name="webjit")
    merged.ir_version = with_past.ir_version
    onnx.checker.check_model(merged)
    return merged


def export_merged(no_past_module, with_past_path: pathlib.Path, target: pathlib.Path, opset: int) -> None:
    """Export the no-cache decoder `no_past_module` and write it merged with the gpt2-past file
    `with_past_path` (exported from the same weights) to `target`."""
    import onnx
    import torch

    ids = torch.from_numpy(np.random.default_rng(0).integers(1000, 30000, (1, 8), dtype=np.int64))
    no_past_path = target.with_name(target.name + ".no_past.onnx")
    present = [o.name for o in onnx.load(str(with_past_path), load_external_data=False).graph.output][1:]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total_sequence"},
            "logits": {0: "batch", 1: "sequence"}, **{n: {0: "batch", 2: "total_sequence"} for n in present}}
    with torch.no_grad():
        torch.onnx.export(no_past_module, (ids, torch.ones_like(ids)), str(no_past_path), dynamo=False,
                          do_constant_folding=True, input_names=["input_ids", "attention_mask"],
                          output_names=["logits", *present], dynamic_axes=axes, opset_version=opset)
    merged = merge_decoders(onnx.load(str(no_past_path)), onnx.load(str(with_past_path)))
    no_past_path.unlink()
    onnx.save(merged, str(target))
