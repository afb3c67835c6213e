"""What the decompositions of the attention, state, spectral and gating ops cannot do is refused
in one sentence naming the node (their numerics are the shared op cases, tests/op_cases.py)."""
from __future__ import annotations

import pytest
from onnx import TensorProto, helper

import webjit
from webjit.errors import UnsupportedError

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(op, inputs, attrs=None, opset=28, outputs=1, domain="", wiring=None, graphs=()):
    """One node `op` named 'n' reading model inputs [(name, elem type, shape)] (or the names in
    `wiring`, "" for an omitted input), with graph attributes `graphs`."""
    outs = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op, wiring or [name for name, _, _ in inputs], outs, name="n", domain=domain,
                            **dict(attrs or {}))
    node.attribute.extend(graphs)
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info(*spec) for spec in inputs],
                              [helper.make_tensor_value_info(o, F, []) for o in outs])
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=10)


def unsupported_score_mod():
    graph = helper.make_graph([helper.make_node("RandomUniformLike", ["s"], ["out"])], "mod",
                              [helper.make_tensor_value_info("s", F, [])],
                              [helper.make_tensor_value_info("out", F, [])])
    return helper.make_attribute("score_mod", graph)


QKV = [("q", F, [1, 2, 3, 4]), ("k", F, [1, 2, 3, 4]), ("v", F, [1, 2, 3, 4])]
LINEAR = [("q", F, [1, 2, 8]), ("k", F, [1, 2, 8]), ("v", F, [1, 2, 8])]
CASES = {
    "DFT axis at run time": (model("DFT", [("x", F, [2, 8, 1]), ("axis", I64, [])], opset=20, wiring=["x", "", "axis"]),
                             "DFT 'n' takes its axis from 'axis', which webjit needs at compile time; bind it with "
                             "--const axis=VALUE"),
    "DFT too long for one matrix": (model("DFT", [("x", F, [1, 4096, 2])], {"axis": 1}, 17),
                                    "DFT 'n' of length 4096 over 4096 values needs a 8192 x 8192 transform matrix"),
    "STFT frame_step at run time": (model("STFT", [("s", F, [1, 32, 1]), ("step", I64, [])], opset=17),
                                    "STFT 'n' takes its frame_step from 'step', which webjit needs at compile time; "
                                    "bind it with --const step=VALUE"),
    "MelWeightMatrix at run time": (model("MelWeightMatrix", [("bins", I64, []), ("len", I64, []), ("rate", I64, []),
                                                              ("lo", F, []), ("hi", F, [])], opset=17),
                                    "MelWeightMatrix 'n' takes its num_mel_bins from model input 'bins'"),
    "Attention nonpad with past": (model("Attention", QKV + [("m", F, [3, 5]), ("pk", F, [1, 2, 2, 4]),
                                                             ("pv", F, [1, 2, 2, 4]), ("np", I64, [1])], opset=24),
                                   "Attention 'n' takes both nonpad_kv_seqlen and past_key, which ONNX forbids"),
    "LinearAttention unknown rule": (model("LinearAttention", LINEAR,
                                           {"q_num_heads": 2, "kv_num_heads": 2, "update_rule": "mamba"}, 27, 2),
                                     "LinearAttention 'n' has update_rule 'mamba'"),
    "LinearAttention gated without decay": (model("LinearAttention", LINEAR,
                                                  {"q_num_heads": 2, "kv_num_heads": 2, "update_rule": "gated"}, 27, 2),
                                            "LinearAttention 'n' with update_rule 'gated' needs decay and no beta"),
    "SwiGLU broadcasting": (model("SwiGLU", [("a", F, [2, 3]), ("b", F, [1, 3])]),
                            "SwiGLU 'n' has inputs of shapes [2, 3] and [1, 3]; ONNX requires the same shape"),
    "TensorScatter along the batch": (model("TensorScatter", [("p", F, [2, 4]), ("u", F, [1, 4])], {"axis": 0}, 24),
                                      "TensorScatter 'n' has axis 0, its batch axis"),
    "FlexAttention score_mod with an unsupported op": (
        model("FlexAttention", QKV, opset=26, domain="ai.onnx.preview", graphs=[unsupported_score_mod()]),
        "RandomUniformLike"),
}


@pytest.mark.parametrize("what", sorted(CASES))
def test_refused_in_one_sentence_naming_the_node(what):
    proto, words = CASES[what]
    with pytest.raises(UnsupportedError) as info:
        webjit.compile(proto)
    message = str(info.value)
    assert words in message and "\n" not in message, message
