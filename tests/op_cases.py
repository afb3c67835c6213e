"""The op test cases, as plain data shared by every backend's runner.

A case is a JSON-able dict:
  name     unique id (also seeds its random inputs)
  inputs   list of input specs: {"name", "dtype", "shape", "fill"} is a runtime tensor filled
           with seeded random values of that kind (see onnx_builders.fill); "const": True
           stores the random values as an initializer instead; "value" gives an initializer's
           exact values.
  nodes    list of {"op", "inputs", "outputs", "attrs"[, "domain"]}; "" marks an omitted optional input
  outputs  names of the graph outputs
  opset    the ONNX opset (18 unless given)
  output_types  optional {name: (dtype, shape)} for outputs onnx's shape inference leaves untyped
Runners build the model with tests/onnx_builders.py and compare with onnxruntime.
"""
from __future__ import annotations

# ONNX TensorProto element types, for Cast's `to`.
FLOAT, INT32, INT64, BOOL = 1, 6, 7, 9
INT_MAX = 2**63 - 1
ML_OPS = ("Binarizer", "ArrayFeatureExtractor")  # ops of the ai.onnx.ml domain


# ---- spec constructors: each returns plain dicts -------------------------------------------

def x(name, shape, dtype="float32", fill=None, **extra):
    """A runtime input."""
    spec = {"name": name, "dtype": dtype, "shape": list(shape)}
    if fill:
        spec["fill"] = fill
    spec.update(extra)
    return spec


def w(name, shape, dtype="float32", fill=None, **extra):
    """A constant input with seeded random values."""
    return dict(x(name, shape, dtype, fill, **extra), const=True)


def k(name, value, dtype="int64"):
    """A constant input with the given values (shape follows the nesting of `value`)."""
    return {"name": name, "dtype": dtype, "shape": _shape_of(value), "value": value}


def _shape_of(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def op(name, op_type, inputs, attrs=None, outputs=1, opset=None):
    """A case of one node reading `inputs` in order (None: an omitted optional input)."""
    out_names = ["y"] if outputs == 1 else [f"y{i}" for i in range(outputs)]
    node = {"op": op_type, "inputs": [s["name"] if s else "" for s in inputs], "outputs": out_names,
            "attrs": dict(attrs or {})}
    case = {"name": name, "inputs": [s for s in inputs if s], "nodes": [node], "outputs": out_names}
    if opset:
        case["opset"] = opset
    return case


def graph(name, inputs, nodes, outputs, opset=None):
    """A case of several nodes: nodes are (op, inputs, outputs[, attrs])."""
    case = {"name": name, "inputs": inputs, "outputs": list(outputs),
            "nodes": [{"op": n[0], "inputs": list(n[1]), "outputs": list(n[2]), "attrs": dict(n[3] if len(n) > 3 else {}),
                       **({"domain": "ai.onnx.ml"} if n[0] in ML_OPS else {})} for n in nodes]}
    if opset:
        case["opset"] = opset
    return case


def subgraph(inputs, outputs, nodes, constants=()):
    """A graph attribute (e.g. FlexAttention's score_mod): float32 input and output names, nodes as
    in graph(), constants as k() specs."""
    return {"inputs": [{"name": n, "dtype": "float32"} for n in inputs],
            "outputs": [{"name": n, "dtype": "float32"} for n in outputs], "constants": list(constants),
            "nodes": [{"op": n[0], "inputs": list(n[1]), "outputs": list(n[2]), "attrs": dict(n[3] if len(n) > 3 else {})}
                      for n in nodes]}


def in_domain(case, domain):
    """The case with its nodes in another op domain (version 1), e.g. ai.onnx.preview."""
    for node in case["nodes"]:
        node["domain"] = domain
    return case


# ---- elementwise ------------------------------------------------------------------------------

UNARY_FILLS = {"Neg": None, "Abs": None, "Sqrt": "positive", "Exp": None, "Log": "positive", "Reciprocal": "positive",
               "Erf": None, "Tanh": None, "Sigmoid": None, "Relu": None, "Floor": "halves", "Ceil": "halves",
               "Round": "halves", "Sign": "ties", "Sin": None, "Cos": None, "Identity": None, "Softplus": None,
               "Gelu": None, "Elu": None, "LeakyRelu": None, "HardSigmoid": None, "Selu": None, "Celu": None,
               "ThresholdedRelu": None, "Softsign": None, "Mish": None, "HardSwish": "int", "Shrink": None,
               "Tan": "unit", "Sinh": None, "Cosh": None, "Asinh": "int", "Acosh": "above_one", "Atanh": "unit",
               "Atan": "int", "Asin": "unit", "Acos": "unit"}


def elementwise_cases():
    cases = []
    for name, kind in UNARY_FILLS.items():
        cases.append(op(f"{name}_3x1x7", name, [x("x", (3, 1, 7), fill=kind)], opset=20 if name == "Gelu" else None))
    cases += [
        op("Exp_wide_range", "Exp", [x("x", (2, 5, 33), fill="ties")]),
        op("Sigmoid_2x5x33", "Sigmoid", [x("x", (2, 5, 33))]),
        op("Reciprocal_negative", "Reciprocal", [x("x", (13,), fill="nonzero")]),
        op("Gelu_tanh", "Gelu", [x("x", (4, 9))], {"approximate": "tanh"}, opset=20),
        op("Gelu_erf_wide", "Gelu", [x("x", (2, 5, 33), fill="int")], opset=20),
        op("Softplus_wide", "Softplus", [x("x", (3, 11), fill="int")]),
        op("LeakyRelu_alpha", "LeakyRelu", [x("x", (2, 7), fill="ties")], {"alpha": 0.1}),
        op("HardSigmoid_params", "HardSigmoid", [x("x", (2, 7), fill="int")], {"alpha": 0.3, "beta": 0.4}),
        op("Elu_alpha", "Elu", [x("x", (2, 7))], {"alpha": 0.7}),
        op("Selu_params", "Selu", [x("x", (2, 7))], {"alpha": 1.5, "gamma": 0.8}),
        op("Celu_alpha", "Celu", [x("x", (2, 7))], {"alpha": 2.0}),
        op("ThresholdedRelu_alpha", "ThresholdedRelu", [x("x", (2, 7), fill="halves")], {"alpha": 0.5}),
        op("Mish_wide", "Mish", [x("x", (3, 11), fill="int")]),
        op("Shrink_bias", "Shrink", [x("x", (3, 11), fill="halves")], {"bias": 0.5, "lambd": 1.0}),
        op("PRelu_channels", "PRelu", [x("x", (2, 3, 5)), x("slope", (3, 1), const=True)]),
        op("PRelu_runtime_slope", "PRelu", [x("x", (2, 3, 5)), x("slope", (5,))]),
        op("IsInf_mixed", "IsInf", [x("x", (2, 7), fill="specials")]),
        op("Hardmax_axis1_ties", "Hardmax", [x("x", (3, 4, 5), fill="ties")], {"axis": 1}),
        op("Hardmax_last", "Hardmax", [x("x", (2, 9))]),
        op("Swish_alpha", "Swish", [x("x", (3, 7))], {"alpha": 0.7}, opset=24),
        op("RotaryEmbedding_3d_interleaved_partial", "RotaryEmbedding",
           [x("x", (2, 3, 16)), w("cos", (6, 2)), w("sin", (6, 2)), x("pos", (2, 3), "int64", fill="range", range=[0, 6])],
           {"num_heads": 2, "interleaved": 1, "rotary_embedding_dim": 4}, opset=23),
        op("RotaryEmbedding_4d_halves", "RotaryEmbedding", [x("x", (1, 2, 3, 8)), x("cos", (1, 3, 4)), x("sin", (1, 3, 4))],
           opset=23),
        op("OneHot_axis1_negative", "OneHot", [x("i", (2, 3), "int64", fill="range", range=[-4, 4]), k("d", 4),
                                              x("v", (2,))], {"axis": 1}),
        op("CenterCropPad_crop_and_pad", "CenterCropPad", [x("x", (5, 8, 3)), k("s", [3, 11])], {"axes": [0, 1]},
           opset=18),
        op("Attention_4d_gqa_causal_bool_mask", "Attention",
           [x("q", (2, 4, 5, 8)), x("k", (2, 2, 5, 8)), x("v", (2, 2, 5, 6)), x("m", (5, 5), "bool")],
           {"is_causal": 1}, opset=23),
        op("Attention_3d_past_present_softcap", "Attention",
           [x("q", (1, 3, 16)), x("k", (1, 3, 16)), x("v", (1, 3, 16)), None, x("pk", (1, 2, 4, 8)),
            x("pv", (1, 2, 4, 8))],
           {"q_num_heads": 2, "kv_num_heads": 2, "softcap": 2.0, "scale": 0.3}, outputs=3, opset=23),
        op("Attention_3d_gqa_nonpad_causal_bool_mask", "Attention",
           [x("q", (3, 4, 16)), x("k", (3, 6, 8)), x("v", (3, 6, 8)), x("m", (3, 1, 4, 6), "bool"), None, None,
            x("n", (3,), "int64", fill="range", range=[2, 7])],
           {"q_num_heads": 4, "kv_num_heads": 2, "is_causal": 1}, opset=24),
        op("Attention_4d_nonpad_window_short_mask", "Attention",
           [x("q", (2, 2, 3, 8)), x("k", (2, 2, 7, 8)), x("v", (2, 2, 7, 4)), x("m", (2, 3, 5)), None, None,
            x("n", (2,), "int64", fill="range", range=[4, 8])],
           {"left_window_size": 2, "right_window_size": 1}, opset=25),
        op("LinearAttention_gated_delta_gqa_past", "LinearAttention",
           [x("q", (2, 3, 16)), x("k", (2, 3, 8), fill="unit"), x("v", (2, 3, 6)), x("s", (2, 2, 4, 3)),
            x("g", (2, 3, 8), fill="unit"), x("b", (2, 3, 2), fill="unit")],
           {"q_num_heads": 4, "kv_num_heads": 2}, outputs=2, opset=27),
        op("LinearAttention_linear_scale", "LinearAttention", [x("q", (1, 5, 8)), x("k", (1, 5, 8)), x("v", (1, 5, 8))],
           {"q_num_heads": 2, "kv_num_heads": 2, "update_rule": "linear", "scale": 0.3}, outputs=2, opset=27),
        op("LinearAttention_gated_head_decay", "LinearAttention",
           [x("q", (1, 4, 8)), x("k", (1, 4, 4)), x("v", (1, 4, 4)), None, x("g", (1, 4, 1), fill="unit")],
           {"q_num_heads": 2, "kv_num_heads": 1, "update_rule": "gated"}, outputs=2, opset=27),
        op("LinearAttention_linear_past_gqa", "LinearAttention",
           [x("q", (2, 4, 16)), x("k", (2, 4, 8)), x("v", (2, 4, 6)), x("s", (2, 2, 4, 3))],
           {"q_num_heads": 4, "kv_num_heads": 2, "update_rule": "linear"}, outputs=2, opset=27),
        op("LinearAttention_gated_head_decay_past", "LinearAttention",
           [x("q", (1, 5, 8)), x("k", (1, 5, 8)), x("v", (1, 5, 8)),
            x("s", (1, 2, 4, 4)), x("g", (1, 5, 2), fill="unit")],
           {"q_num_heads": 2, "kv_num_heads": 2, "update_rule": "gated"}, outputs=2, opset=27),
        op("LinearAttention_gated_key_decay_past", "LinearAttention",
           [x("q", (1, 3, 8)), x("k", (1, 3, 8)), x("v", (1, 3, 4)),
            x("s", (1, 2, 4, 2)), x("g", (1, 3, 8), fill="unit")],
           {"q_num_heads": 2, "kv_num_heads": 2, "update_rule": "gated"}, outputs=2, opset=27),
        op("CausalConvWithState_runtime_weight_past_silu", "CausalConvWithState",
           [x("x", (2, 3, 7)), x("w", (3, 1, 3)), x("bias", (3,)), x("past", (2, 3, 2))], {"activation": "silu"},
           outputs=2, opset=27),
        op("CausalConvWithState_const_weight_short", "CausalConvWithState", [x("x", (2, 3, 2)), w("w", (3, 1, 4))],
           outputs=2, opset=27),
        in_domain(op("FlexAttention_gqa_softcap_score_mod", "FlexAttention",
                     [x("q", (1, 4, 3, 8)), x("k", (1, 2, 5, 8)), x("v", (1, 2, 5, 6))],
                     {"scale": 0.5, "score_mod": subgraph(["s"], ["capped"], [
                         ("Div", ["s", "cap"], ["d"]), ("Tanh", ["d"], ["th"]), ("Mul", ["th", "cap"], ["capped"])],
                         [k("cap", 1.5, "float32")])}, opset=26), "ai.onnx.preview"),
        in_domain(op("FlexAttention_bias_score_mod_prob_mod", "FlexAttention",
                     [x("q", (2, 2, 4, 8)), x("k", (2, 2, 4, 8)), x("v", (2, 2, 4, 8))],
                     {"score_mod": subgraph(["s"], ["biased"], [("Add", ["s", "bias"], ["biased"])],
                                            [k("bias", [[0.0, -1.0, -2.0, -3.0], [1.0, 0.0, -1.0, -2.0],
                                                        [2.0, 1.0, 0.0, -1.0], [3.0, 2.0, 1.0, 0.0]], "float32")]),
                      "prob_mod": subgraph(["p"], ["sharp"], [("Mul", ["p", "p"], ["sharp"])])}, opset=26),
                  "ai.onnx.preview"),
        op("DFT_complex_axis0_padded", "DFT", [x("x", (6, 3, 2)), k("n", 8), k("axis", 0)], opset=20),
        op("DFT_rfft_truncated_attr_axis", "DFT", [x("x", (2, 9, 1)), k("n", 7)], {"axis": 1, "onesided": 1}, opset=17),
        op("DFT_irfft_default_axis", "DFT", [x("x", (3, 5, 2))], {"inverse": 1, "onesided": 1}, opset=20),
        op("DFT_inverse_real_input", "DFT", [x("x", (4, 2, 5, 1)), None, k("axis", -3)], {"inverse": 1}, opset=20),
        op("STFT_runtime_window", "STFT", [x("s", (2, 40, 1)), k("step", 6), x("win", (10,))], opset=17),
        op("STFT_complex_twosided", "STFT", [x("s", (1, 20, 2)), k("step", 4), None, k("len", 8)], {"onesided": 0},
           opset=17),
        graph("MelWeightMatrix_then_MatMul", [x("spec", (3, 33), fill="positive"), k("bins", 6, "int32"),
                                              k("n", 64, "int32"), k("rate", 8000, "int32"), k("lo", 20.0, "float32"),
                                              k("hi", 3900.0, "float32")],
              [("MelWeightMatrix", ["bins", "n", "rate", "lo", "hi"], ["mel"]), ("MatMul", ["spec", "mel"], ["y"])],
              ["y"], opset=17),
        op("SwiGLU_alpha", "SwiGLU", [x("a", (3, 2, 7)), x("b", (3, 2, 7))], {"alpha": 1.7}, opset=28),
        op("TensorScatter_circular_axis1", "TensorScatter",
           [x("past", (3, 5, 2, 4)), x("up", (3, 3, 2, 4)), x("w", (3,), "int64", fill="range", range=[0, 5])],
           {"mode": "circular", "axis": 1}, opset=24),
        op("TensorScatter_linear_no_indices", "TensorScatter", [x("past", (2, 2, 6, 3)), x("up", (2, 2, 4, 3))],
           opset=24),
        op("NLLLoss_weighted_ignore_mean", "NegativeLogLikelihoodLoss",
           [x("x", (3, 5, 2)), x("t", (3, 2), "int64", fill="range", range=[0, 5]), w("w", (5,), fill="positive")],
           {"ignore_index": 1}),
        op("NLLLoss_none", "NegativeLogLikelihoodLoss", [x("x", (4, 6)), x("t", (4,), "int64", fill="range", range=[0, 6])],
           {"reduction": "none"}),
        op("SCELoss_sum_log_prob", "SoftmaxCrossEntropyLoss",
           [x("x", (2, 4, 3)), x("t", (2, 3), "int64", fill="range", range=[0, 4])], {"reduction": "sum"}, outputs=2),
        op("IsInf_positive_only", "IsInf", [x("x", (2, 7), fill="specials")], {"detect_negative": 0}),
        op("IsNaN_no_nans", "IsNaN", [x("x", (3, 5))]),
        op("IsNaN_with_nans", "IsNaN", [x("x", (3, 7), fill="with_nan")]),
        op("Relu_keeps_nan", "Relu", [x("x", (3, 7), fill="with_nan")]),
        op("Where_IsNaN_guard", "Where", [x("c", (3, 7), "bool"), x("a", (3, 7), fill="with_nan"), k("b", 0.0, "float32")]),
        op("Neg_int64", "Neg", [x("x", (3, 5), "int64")]),
        op("Abs_int64", "Abs", [x("x", (3, 5), "int64")]),
        op("Sign_int64", "Sign", [x("x", (3, 5), "int64")]),
        op("Abs_int32", "Abs", [x("x", (9,), "int32")]),
        op("Not_bool", "Not", [x("x", (2, 1, 5), "bool")]),
        op("Clip_min_max", "Clip", [x("x", (3, 7)), k("lo", -0.5, "float32"), k("hi", 0.7, "float32")]),
        op("Clip_min_only", "Clip", [x("x", (3, 7)), k("lo", 0.1, "float32")]),
        op("Clip_max_only", "Clip", [x("x", (3, 7)), None, k("hi", 0.2, "float32")]),
        op("Clip_runtime_bounds", "Clip", [x("x", (2, 9)), x("lo", (), fill="unit"), x("hi", (), fill="positive")]),
        op("Clip_int64", "Clip", [x("x", (2, 9), "int64"), k("lo", -3), k("hi", 4)]),
        op("Clip_opset6_attrs", "Clip", [x("x", (2, 9))], {"min": -0.3, "max": 0.4}, opset=6),
    ]
    binary = [("Add", None, None), ("Sub", None, None), ("Mul", None, None), ("Div", None, "nonzero")]
    for name, fa, fb in binary:
        cases += [
            op(f"{name}_broadcast_2x3x5_3x1", name, [x("a", (2, 3, 5), fill=fa), x("b", (3, 1), fill=fb)]),
            op(f"{name}_broadcast_4x1x6_5x1", name, [x("a", (4, 1, 6), fill=fa), x("b", (5, 1), fill=fb)]),
            op(f"{name}_scalar_const", name, [x("a", (3, 7), fill=fa), k("b", 2.5, "float32")]),
            op(f"{name}_int64_broadcast", name, [x("a", (2, 3, 4), "int64"), x("b", (4,), "int64", fill="nonzero")]),
        ]
    cases += [
        op("Add_int32", "Add", [x("a", (5, 3), "int32"), x("b", (1, 3), "int32")]),
        graph("Add_same_input", [x("a", (3, 5))], [("Add", ["a", "a"], ["y"])], ["y"]),
        op("Div_int64_negative_trunc", "Div", [x("a", (4, 6), "int64", fill="int"), x("b", (6,), "int64", fill="nonzero")]),
        op("Pow_general", "Pow", [x("a", (3, 7), fill="positive"), x("b", (7,))]),
        op("Pow_const_2", "Pow", [x("a", (3, 7)), k("e", 2.0, "float32")]),
        op("Pow_const_3", "Pow", [x("a", (3, 7)), k("e", 3.0, "float32")]),
        op("Pow_const_half", "Pow", [x("a", (3, 7), fill="positive"), k("e", 0.5, "float32")]),
        op("Pow_const_neg1", "Pow", [x("a", (3, 7), fill="positive"), k("e", -1.0, "float32")]),
        op("Pow_int64", "Pow", [x("a", (2, 5), "int64", fill="range", range=[-4, 5]), x("b", (5,), "int64", fill="range", range=[0, 4])]),
        op("Mod_fmod_float", "Mod", [x("a", (3, 7), fill="int"), x("b", (7,), fill="nonzero")], {"fmod": 1}),
        op("Mod_fmod_float_frac", "Mod", [x("a", (3, 7)), x("b", (3, 1), fill="positive")], {"fmod": 1}),
        op("Mod_int64_negatives", "Mod", [x("a", (3, 7), "int64"), x("b", (7,), "int64", fill="nonzero")]),
        op("Max_three_broadcast", "Max", [x("a", (2, 3, 4), fill="ties"), x("b", (3, 1), fill="ties"), x("c", (4,), fill="ties")]),
        op("Min_three_broadcast", "Min", [x("a", (2, 3, 4), fill="ties"), x("b", (3, 1), fill="ties"), x("c", (4,), fill="ties")]),
        op("Sum_three_broadcast", "Sum", [x("a", (2, 3, 4)), x("b", (1, 4)), x("c", ())]),
        op("Max_int64", "Max", [x("a", (3, 4), "int64"), x("b", (4,), "int64")]),
    ]
    for name in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
        cases += [
            op(f"{name}_ties_broadcast", name, [x("a", (2, 3, 5), fill="ties"), x("b", (3, 1), fill="ties")]),
            op(f"{name}_int64", name, [x("a", (4, 5), "int64", fill="ties"), x("b", (5,), "int64", fill="ties")]),
        ]
    for name in ("And", "Or", "Xor"):
        cases.append(op(f"{name}_broadcast", name, [x("a", (2, 3, 4), "bool"), x("b", (3, 1), "bool")]))
    cases += [
        op("Where_broadcast", "Where", [x("c", (3, 1), "bool"), x("a", (2, 3, 4)), x("b", ())]),
        op("Where_int64", "Where", [x("c", (2, 5), "bool"), x("a", (2, 5), "int64"), k("b", -1)]),
        op("Where_cond_broadcast_last", "Where", [x("c", (5,), "bool"), x("a", (3, 1)), x("b", (3, 5))]),
    ]
    casts = [("float32", INT64, "halves"), ("float32", INT32, "halves"), ("float32", BOOL, "ties"),
             ("int64", FLOAT, None), ("int64", BOOL, "ties"), ("int64", INT32, None),
             ("bool", FLOAT, None), ("bool", INT64, None), ("int32", FLOAT, None), ("int32", INT64, None)]
    names = {FLOAT: "float32", INT32: "int32", INT64: "int64", BOOL: "bool"}
    for src, to, kind in casts:
        cases.append(op(f"Cast_{src}_to_{names[to]}", "Cast", [x("x", (3, 7), src, fill=kind)], {"to": to}))
    cases += [
        op("Cast_float_to_int64_negative", "Cast", [x("x", (2, 9))], {"to": INT64}),
        op("CastLike_float_to_int64", "CastLike", [x("x", (2, 9), fill="halves"), k("like", [0])]),
        graph("Cast_int64_roundtrip_add", [x("a", (3, 4), "int64"), x("f", (3, 4))],
              [("Cast", ["a"], ["af"], {"to": FLOAT}), ("Add", ["af", "f"], ["y"])], ["y"]),
    ]
    return cases


# ---- matrix products -----------------------------------------------------------------------------

def matmul_cases():
    return [
        op("MatMul_1d_1d", "MatMul", [x("a", (5,)), x("b", (5,))]),
        op("MatMul_1d_2d", "MatMul", [x("a", (5,)), x("b", (5, 3))]),
        op("MatMul_2d_1d", "MatMul", [x("a", (4, 5)), x("b", (5,))]),
        op("MatMul_7x13x5", "MatMul", [x("a", (7, 13)), x("b", (13, 5))]),
        op("MatMul_1x1x1", "MatMul", [x("a", (1, 1)), x("b", (1, 1))]),
        op("MatMul_33x64x17_const_b", "MatMul", [x("a", (33, 64)), w("b", (64, 17))]),
        op("MatMul_batched", "MatMul", [x("a", (2, 3, 4, 5)), x("b", (2, 3, 5, 6))]),
        op("MatMul_batch_broadcast_2d_b", "MatMul", [x("a", (2, 3, 4, 5)), x("b", (5, 6))]),
        op("MatMul_batch_broadcast_both", "MatMul", [x("a", (2, 1, 4, 5)), x("b", (3, 5, 6))]),
        op("MatMul_batch_broadcast_a_2d", "MatMul", [x("a", (4, 5)), x("b", (3, 5, 2))]),
        op("MatMul_batched_1d_b", "MatMul", [x("a", (2, 3, 4)), x("b", (4,))]),
        graph("MatMul_transposed_b_view", [x("a", (6, 9)), x("bt", (7, 9))],
              [("Transpose", ["bt"], ["b"], {"perm": [1, 0]}), ("MatMul", ["a", "b"], ["y"])], ["y"]),
        graph("MatMul_transposed_a_view", [x("at", (9, 6)), x("b", (9, 7))],
              [("Transpose", ["at"], ["a"], {"perm": [1, 0]}), ("MatMul", ["a", "b"], ["y"])], ["y"]),
        op("Gemm_plain", "Gemm", [x("a", (4, 5)), w("b", (5, 6))]),
        op("Gemm_transA", "Gemm", [x("a", (5, 4)), x("b", (5, 6))], {"transA": 1}),
        op("Gemm_transB_bias_row", "Gemm", [x("a", (4, 5)), w("b", (6, 5)), w("c", (6,))], {"transB": 1}),
        op("Gemm_alpha_beta_col", "Gemm", [x("a", (4, 5)), x("b", (5, 6)), w("c", (4, 1))], {"alpha": 0.5, "beta": 2.0}),
        op("Gemm_both_trans_scalar_c", "Gemm", [x("a", (5, 3)), x("b", (7, 5)), k("c", [1.5], "float32")],
           {"transA": 1, "transB": 1, "alpha": -1.25}),
        op("Gemm_runtime_full_c", "Gemm", [x("a", (3, 5)), x("b", (5, 4)), x("c", (3, 4))], {"beta": 0.5}),
        op("Gemm_beta_zero", "Gemm", [x("a", (3, 5)), x("b", (5, 4)), x("c", (3, 4))], {"beta": 0.0}),
    ]


def conv_cases():
    def conv(name, xs, ws, attrs, bias=True):
        inputs = [x("x", xs), w("w", ws)] + ([w("bias", (ws[0],))] if bias else [])
        return op(name, "Conv", inputs, attrs)
    return [
        conv("Conv_3x3_pad1_bias", (1, 3, 9, 9), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
        conv("Conv_3x3_nobias_batch2", (2, 3, 6, 7), (5, 3, 3, 3), {}, bias=False),
        conv("Conv_stride2", (1, 3, 9, 8), (4, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
        conv("Conv_dilation2", (1, 2, 9, 9), (3, 2, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
        conv("Conv_groups2", (1, 4, 7, 7), (6, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
        conv("Conv_depthwise", (1, 5, 6, 6), (5, 1, 3, 3), {"group": 5, "pads": [1, 1, 1, 1]}),
        conv("Conv_dw_3x3_s1_p1_w13", (1, 8, 9, 13), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}),
        conv("Conv_dw_3x3_s2_p1_batch2_nobias", (2, 6, 13, 13), (6, 1, 3, 3), {"group": 6, "strides": [2, 2], "pads": [1, 1, 1, 1]},
             bias=False),
        conv("Conv_dw_5x5_s2_p2", (1, 4, 14, 13), (4, 1, 5, 5), {"group": 4, "strides": [2, 2], "pads": [2, 2, 2, 2]}),
        conv("Conv_dw_3x3_dilation2", (1, 3, 11, 13), (3, 1, 3, 3), {"group": 3, "dilations": [2, 2], "pads": [2, 2, 2, 2]}),
        conv("Conv_dw_asymmetric_pads_w7", (1, 5, 8, 7), (5, 1, 3, 3), {"group": 5, "pads": [0, 1, 2, 2]}, bias=False),
        conv("Conv_dw_width1", (2, 3, 7, 1), (3, 1, 3, 1), {"group": 3, "pads": [1, 0, 1, 0]}),
        conv("Conv_dw_stride3_no_pad", (1, 2, 9, 40), (2, 1, 3, 3), {"group": 2, "strides": [3, 3]}),
        conv("Conv_dw_same_upper_s2", (1, 4, 10, 17), (4, 1, 3, 3), {"group": 4, "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
        graph("Conv_dw_bias_Relu", [x("x", (1, 6, 7, 13)), w("w", (6, 1, 3, 3)), w("b", (6,))],
              [("Conv", ["x", "w", "b"], ["c"], {"group": 6, "pads": [1, 1, 1, 1]}), ("Relu", ["c"], ["y"])], ["y"]),
        graph("Conv_dw_BN_HardSwish_batch2", [x("x", (2, 4, 9, 9)), w("w", (4, 1, 3, 3)), w("s", (4,)), w("b", (4,)),
                                              w("m", (4,)), w("v", (4,), fill="positive")],
              [("Conv", ["x", "w"], ["c"], {"group": 4, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
               ("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]), ("HardSwish", ["n"], ["y"])], ["y"], opset=14),
        graph("Conv_dw_Clip6_5x5", [x("x", (1, 3, 12, 12)), w("w", (3, 1, 5, 5)), w("b", (3,)), k("lo", 0.0, "float32"),
                                    k("hi", 6.0, "float32")],
              [("Conv", ["x", "w", "b"], ["c"], {"group": 3, "pads": [2, 2, 2, 2]}), ("Clip", ["c", "lo", "hi"], ["y"])], ["y"]),
        graph("Conv_dw_residual_Add", [x("x", (1, 4, 6, 13)), w("w", (4, 1, 3, 3))],
              [("Conv", ["x", "w"], ["c"], {"group": 4, "pads": [1, 1, 1, 1]}), ("Add", ["c", "x"], ["y"])], ["y"]),
        conv("Conv_1x1", (1, 6, 5, 5), (4, 6, 1, 1), {}, bias=False),
        conv("Conv_1x1_bias_batch2", (2, 6, 3, 5), (7, 6, 1, 1), {}),
        conv("Conv_7x7_s2_p3", (1, 3, 16, 16), (8, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3]}),
        conv("Conv_same_upper_s2", (1, 3, 9, 10), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
        conv("Conv_same_upper_even_kernel", (1, 2, 7, 7), (3, 2, 2, 2), {"auto_pad": "SAME_UPPER"}),
        conv("Conv_asymmetric_pads", (1, 2, 6, 7), (3, 2, 3, 3), {"pads": [0, 1, 2, 1]}),
        conv("Conv_3x1_kernel", (1, 2, 6, 5), (4, 2, 3, 1), {"strides": [1, 2], "pads": [1, 0, 1, 0]}),
        conv("Conv_1x1_stride2", (1, 4, 7, 7), (3, 4, 1, 1), {"strides": [2, 2]}),
        conv("Conv_patches_k4_s4_batch2", (2, 3, 8, 20), (5, 3, 4, 4), {"strides": [4, 4]}),
    ]


def pool_cases():
    return [
        op("MaxPool_k3_s2_p1", "MaxPool", [x("x", (1, 2, 9, 9))], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        op("MaxPool_3d_pads_ceil", "MaxPool", [x("x", (1, 2, 5, 6, 7))],
           {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1], "pads": [1, 0, 1, 0, 1, 1], "ceil_mode": 1}),
        op("AveragePool_3d_exclude_pad", "AveragePool", [x("x", (2, 1, 4, 5, 6))],
           {"kernel_shape": [3, 2, 3], "pads": [1, 1, 0, 1, 0, 2], "count_include_pad": 0}),
        op("MaxPool_1d", "MaxPool", [x("x", (2, 3, 11))], {"kernel_shape": [3], "strides": [2], "pads": [1, 0]}),
        op("AveragePool_1d_include_pad", "AveragePool", [x("x", (2, 3, 10))],
           {"kernel_shape": [4], "strides": [3], "pads": [2, 1], "count_include_pad": 1}),
        op("Conv_1d_dilated_groups", "Conv", [x("x", (2, 4, 13)), w("w", (6, 2, 3)), w("b", (6,))],
           {"dilations": [2], "group": 2, "pads": [1, 2], "strides": [2]}),
        op("Conv_runtime_filter", "Conv", [x("x", (2, 3, 7, 6)), x("w", (4, 3, 3, 2)), x("b", (4,))],
           {"strides": [2, 1], "pads": [1, 0, 1, 1], "dilations": [1, 2]}),
        op("Conv_runtime_filter_groups", "Conv", [x("x", (2, 4, 6, 5)), x("w", (6, 2, 3, 3)), x("b", (6,))],
           {"group": 2, "pads": [1, 1, 1, 0], "strides": [1, 2]}),
        op("Conv_1d_runtime_depthwise", "Conv", [x("x", (2, 4, 9)), x("w", (4, 1, 3))], {"group": 4, "pads": [2, 0]}),
        op("Conv_3d_pads_strides", "Conv", [x("x", (2, 4, 5, 6, 7)), w("w", (6, 2, 3, 2, 3)), w("b", (6,))],
           {"group": 2, "pads": [1, 0, 1, 1, 1, 0], "strides": [2, 1, 2], "dilations": [1, 2, 1]}),
        op("Conv_3d_runtime_filter", "Conv", [x("x", (1, 3, 4, 5, 5)), x("w", (4, 3, 2, 3, 3))],
           {"auto_pad": "SAME_UPPER"}),
        op("ConvTranspose_torch_s2_p1_op1", "ConvTranspose", [x("x", (1, 8, 5, 6)), w("w", (8, 4, 3, 3)), w("b", (4,))],
           {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
        op("ConvTranspose_k4_s2_groups", "ConvTranspose", [x("x", (2, 4, 4, 3)), w("w", (4, 3, 4, 4))],
           {"strides": [2, 2], "pads": [1, 1, 1, 1], "group": 2}),
        op("ConvTranspose_dilations_asym", "ConvTranspose", [x("x", (1, 3, 4, 5)), w("w", (3, 2, 3, 2)), w("b", (2,))],
           {"strides": [3, 2], "dilations": [2, 3], "pads": [2, 0, 1, 1]}),
        op("ConvTranspose_runtime_filter_same", "ConvTranspose", [x("x", (1, 2, 3, 4)), x("w", (2, 3, 3, 3)), x("b", (3,))],
           {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        op("ConvTranspose_1d", "ConvTranspose", [x("x", (2, 3, 7)), w("w", (3, 5, 4))], {"strides": [3], "pads": [1, 2]}),
        op("ConvTranspose_3d", "ConvTranspose", [x("x", (1, 2, 3, 4, 3)), w("w", (2, 3, 3, 2, 3)), w("b", (3,))],
           {"strides": [2, 1, 2], "pads": [1, 0, 1, 1, 0, 0], "output_padding": [1, 0, 0]}),
        op("ConvTranspose_output_shape", "ConvTranspose", [x("x", (1, 2, 3, 3)), w("w", (2, 2, 3, 3))],
           {"strides": [2, 2], "output_shape": [7, 8]}),
        graph("CausalConvWithState_past_silu", [x("x", (2, 3, 6)), w("w", (3, 1, 4)), w("b", (3,)), x("past", (2, 3, 3))],
              [("CausalConvWithState", ["x", "w", "b", "past"], ["y", "state"], {"activation": "silu"})], ["y", "state"],
              opset=27),
        graph("CausalConvWithState_no_past", [x("x", (1, 4, 5)), x("w", (4, 1, 3))],
              [("CausalConvWithState", ["x", "w"], ["y", "state"])], ["y", "state"], opset=27),
        graph("MaxPool_indices_pads_ceil", [x("x", (2, 3, 7, 8))],
              [("MaxPool", ["x"], ["y", "i"], {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 1, 1, 0],
                                                "ceil_mode": 1})], ["y", "i"]),
        graph("MaxPool_indices_storage_order_1", [x("x", (1, 2, 6, 5))],
              [("MaxPool", ["x"], ["y", "i"], {"kernel_shape": [2, 2], "strides": [2, 1], "storage_order": 1})],
              ["y", "i"]),
        graph("MaxPool_indices_3d", [x("x", (1, 2, 4, 5, 6))],
              [("MaxPool", ["x"], ["y", "i"], {"kernel_shape": [2, 3, 2], "strides": [2, 2, 2], "pads": [0, 1, 0, 0, 1, 1]})],
              ["y", "i"]),
        graph("MaxPool_indices_1d", [x("x", (2, 2, 9))],
              [("MaxPool", ["x"], ["y", "i"], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]})], ["y", "i"]),
        *[op(f"GridSample_{mode}_{padding}_align{align}", "GridSample", [x("x", (2, 3, 5, 6)), x("grid", (2, 4, 7, 2))],
             {"mode": mode, "padding_mode": padding, "align_corners": align}, opset=20)
          for mode in ("nearest", "linear", "cubic") for padding, align in (("zeros", 0), ("border", 1), ("reflection", 0),
                                                                            ("reflection", 1))],
        op("GridSample_3d_linear_reflection", "GridSample", [x("x", (1, 2, 4, 3, 5)), x("grid", (1, 3, 2, 4, 3))],
           {"mode": "linear", "padding_mode": "reflection"}, opset=20),
        op("GridSample_3d_nearest_zeros_align", "GridSample", [x("x", (2, 2, 3, 4, 4)), x("grid", (2, 2, 3, 2, 3))],
           {"mode": "nearest", "align_corners": 1}, opset=20),
        op("AffineGrid_2d", "AffineGrid", [x("theta", (2, 2, 3)), k("size", [2, 3, 5, 7])], opset=20),
        op("AffineGrid_3d_align", "AffineGrid", [x("theta", (1, 3, 4)), k("size", [1, 2, 3, 4, 5])], {"align_corners": 1},
           opset=20),
        op("Col2Im_strides_pads_dilations", "Col2Im", [x("x", (2, 12, 15)), k("image", [7, 6]), k("block", [3, 2])],
           {"strides": [2, 1], "pads": [1, 0, 0, 1], "dilations": [1, 2]}),
        op("Col2Im_3d", "Col2Im", [x("x", (1, 16, 18)), k("image", [4, 3, 5]), k("block", [2, 2, 2])],
           {"strides": [1, 1, 2], "pads": [0, 0, 1, 0, 0, 0]}),
        graph("MaxUnpool_of_MaxPool", [x("x", (2, 3, 6, 8))],
              [("MaxPool", ["x"], ["p", "i"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
               ("MaxUnpool", ["p", "i"], ["y"], {"kernel_shape": [2, 2], "strides": [2, 2]})], ["y"]),
        graph("MaxUnpool_overlapping_windows", [x("x", (1, 2, 7, 7), fill="ties")],
              [("MaxPool", ["x"], ["p", "i"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
               ("MaxUnpool", ["p", "i"], ["y"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})],
              ["y"]),
        graph("MaxUnpool_1d", [x("x", (2, 2, 9))],
              [("MaxPool", ["x"], ["p", "i"], {"kernel_shape": [3], "strides": [3]}),
               ("MaxUnpool", ["p", "i"], ["y"], {"kernel_shape": [3], "strides": [3]})], ["y"]),
        op("DeformConv_groups_mask_bias", "DeformConv",
           [x("x", (2, 4, 6, 7)), w("w", (6, 2, 3, 3)), x("offset", (2, 2 * 9 * 2, 3, 7)), w("b", (6,)),
            x("mask", (2, 2 * 9, 3, 7))],
           {"group": 2, "offset_group": 2, "strides": [2, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1]}, opset=19),
        op("DeformConv_dilated_runtime_filter", "DeformConv",
           [x("x", (1, 3, 7, 6)), x("w", (2, 3, 2, 2)), x("offset", (1, 8, 5, 4))],
           {"dilations": [2, 2]}, opset=19),
        op("RoiAlign_avg_half_pixel_scale_2", "RoiAlign",
           [x("x", (2, 3, 8, 9)), x("rois", (4, 4), fill="positive"), x("bi", (4,), "int64", fill="range", range=[0, 2])],
           {"output_height": 3, "output_width": 2, "sampling_ratio": 2, "spatial_scale": 2.0}, opset=16),
        op("RoiAlign_max_constant_rois_outside", "RoiAlign",
           [x("x", (1, 2, 10, 10)), k("rois", [[0.0, 0.0, 9.0, 9.0], [1.5, 4.0, 5.0, 9.5], [6.0, 5.0, 12.0, 8.0]],
                                       "float32"), x("bi", (3,), "int64", fill="range", range=[0, 1])],
           {"output_height": 4, "output_width": 3, "sampling_ratio": 3, "mode": "max",
            "coordinate_transformation_mode": "output_half_pixel"}, opset=16),
        op("AveragePool_dilations_3d", "AveragePool", [x("x", (1, 2, 6, 7, 7))],
           {"kernel_shape": [2, 3, 2], "dilations": [2, 1, 2], "pads": [1, 1, 0, 0, 1, 1], "ceil_mode": 1}, opset=19),
        op("AveragePool_dilations_2d_include_pad", "AveragePool", [x("x", (1, 2, 8, 8))],
           {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}, opset=19),
        op("LpPool_p2", "LpPool", [x("x", (1, 2, 7, 7))], {"kernel_shape": [3, 3], "strides": [2, 2], "p": 2}),
        op("LpPool_p3_pads", "LpPool", [x("x", (1, 2, 6, 6))], {"kernel_shape": [2, 2], "pads": [1, 1, 0, 0], "p": 3}),
        op("GlobalLpPool_p1", "GlobalLpPool", [x("x", (2, 3, 4, 5))], {"p": 1}),
        op("MaxPool_k2_s2", "MaxPool", [x("x", (2, 3, 8, 6))], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        op("MaxPool_ceil_mode", "MaxPool", [x("x", (1, 2, 8, 8))], {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        op("MaxPool_dilations", "MaxPool", [x("x", (1, 2, 9, 9))], {"kernel_shape": [2, 2], "dilations": [2, 2]}),
        op("MaxPool_same_upper", "MaxPool", [x("x", (1, 2, 7, 7))], {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        op("AveragePool_k3_s1", "AveragePool", [x("x", (1, 3, 6, 7))], {"kernel_shape": [3, 3]}),
        op("AveragePool_pads_exclude", "AveragePool", [x("x", (1, 2, 7, 7))],
           {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 0}),
        op("AveragePool_pads_include", "AveragePool", [x("x", (1, 2, 7, 7))],
           {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
        op("AveragePool_ceil_mode", "AveragePool", [x("x", (1, 2, 8, 8))], {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        op("AveragePool_asymmetric", "AveragePool", [x("x", (2, 1, 5, 6))], {"kernel_shape": [2, 3], "pads": [0, 1, 1, 0]}),
        op("GlobalAveragePool", "GlobalAveragePool", [x("x", (2, 3, 5, 7))]),
        op("GlobalAveragePool_1x1", "GlobalAveragePool", [x("x", (1, 4, 1, 1))]),
        op("GlobalMaxPool", "GlobalMaxPool", [x("x", (2, 3, 5, 7))]),
        op("MaxPool_k3_s2_p1_wide", "MaxPool", [x("x", (2, 3, 9, 29))], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        op("AveragePool_k3_s1_wide_include_pad", "AveragePool", [x("x", (2, 2, 6, 13))],
           {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
        op("BatchNormalization_4d", "BatchNormalization",
           [x("x", (2, 3, 4, 5)), w("s", (3,)), w("b", (3,)), w("m", (3,)), w("v", (3,), fill="positive")]),
        op("BatchNormalization_2d_eps", "BatchNormalization",
           [x("x", (4, 3)), w("s", (3,)), w("b", (3,)), w("m", (3,)), w("v", (3,), fill="positive")], {"epsilon": 0.01}),
    ]


# ---- reductions and normalisation -----------------------------------------------------------------

def reduce_cases():
    cases = []
    kinds = {"ReduceSum": None, "ReduceMean": None, "ReduceMax": "ties", "ReduceMin": "ties", "ReduceProd": "positive",
             "ReduceSumSquare": None, "ReduceL1": None, "ReduceL2": None, "ReduceLogSum": "positive",
             "ReduceLogSumExp": None}
    for name, fill in kinds.items():
        cases += [
            op(f"{name}_last_keep", name, [x("x", (2, 3, 17), fill=fill), k("axes", [-1])]),
            op(f"{name}_middle_drop", name, [x("x", (2, 5, 3), fill=fill), k("axes", [1])], {"keepdims": 0}),
            op(f"{name}_two_axes_negative", name, [x("x", (3, 4, 5), fill=fill), k("axes", [0, -1])]),
        ]
    cases += [
        op("ReduceSum_all_axes_default", "ReduceSum", [x("x", (3, 4, 5))], {"keepdims": 0}),
        op("ReduceMean_first_axis_keep", "ReduceMean", [x("x", (6, 1, 9)), k("axes", [0])]),
        op("ReduceMean_noop_empty_axes", "ReduceMean", [x("x", (3, 4))], {"noop_with_empty_axes": 1}),
        op("ReduceMax_axis_attr_opset13", "ReduceMax", [x("x", (3, 4, 5))], {"axes": [-2], "keepdims": 0}, opset=13),
        op("ReduceSum_axes_input_opset13", "ReduceSum", [x("x", (3, 4, 5)), k("axes", [1, 2])], opset=13),
        op("Softmax_last", "Softmax", [x("x", (2, 3, 17))]),
        op("Softmax_middle", "Softmax", [x("x", (2, 5, 3))], {"axis": 1}),
        op("Softmax_large_values", "Softmax", [x("x", (3, 9), fill="int")], {"axis": -1}),
        op("LogSoftmax_last", "LogSoftmax", [x("x", (2, 3, 17))]),
        op("LogSoftmax_middle", "LogSoftmax", [x("x", (2, 5, 3))], {"axis": -2}),
        op("Softmax_opset11_axis1", "Softmax", [x("x", (2, 3, 4))], {"axis": 1}, opset=11),
        op("LogSoftmax_opset11_default_axis", "LogSoftmax", [x("x", (2, 3, 2, 3))], opset=11),
        op("Softmax_opset11_last_axis", "Softmax", [x("x", (3, 6))], {"axis": -1}, opset=11),
        op("LayerNormalization_last_bias", "LayerNormalization", [x("x", (2, 5, 16)), w("s", (16,)), w("b", (16,))]),
        op("LayerNormalization_axis_minus2_nobias", "LayerNormalization", [x("x", (2, 3, 4, 5)), w("s", (4, 5))],
           {"axis": -2, "epsilon": 1e-3}),
        op("LayerNormalization_odd_row", "LayerNormalization", [x("x", (3, 7)), w("s", (7,)), w("b", (7,))]),
        op("CumSum_axis1", "CumSum", [x("x", (2, 5, 3)), k("axis", 1)]),
        op("CumSum_exclusive", "CumSum", [x("x", (2, 5, 3)), k("axis", -1)], {"exclusive": 1}),
        op("CumSum_reverse", "CumSum", [x("x", (4, 6)), k("axis", 0)], {"reverse": 1}),
        op("CumSum_exclusive_reverse", "CumSum", [x("x", (3, 7)), k("axis", -1)], {"exclusive": 1, "reverse": 1}),
        op("CumSum_int64", "CumSum", [x("x", (3, 7), "int64"), k("axis", 1, "int32")]),
        op("ArgMax_axis1", "ArgMax", [x("x", (3, 5, 4))], {"axis": 1}),
        op("ArgMin_axis1", "ArgMin", [x("x", (3, 5, 4))], {"axis": 1}),
        op("ArgMin_ties_last_index", "ArgMin", [x("x", (4, 9), fill="ties")], {"axis": -1, "select_last_index": 1}),
        op("RMSNormalization_last", "RMSNormalization", [x("x", (2, 5, 16)), w("s", (16,))], {"epsilon": 1e-6},
           opset=23),
        op("RMSNormalization_axis1", "RMSNormalization", [x("x", (2, 3, 4)), w("s", (3, 4))], {"axis": 1}, opset=23),
        op("LpNormalization_p2", "LpNormalization", [x("x", (3, 7))], {"axis": -1, "p": 2}),
        op("LpNormalization_p1_axis0", "LpNormalization", [x("x", (3, 7))], {"axis": 0, "p": 1}),
        op("Mean_three_broadcast", "Mean", [x("a", (2, 3)), x("b", (3,)), x("c", (2, 1))]),
        op("ArgMax_last_drop", "ArgMax", [x("x", (3, 7))], {"axis": -1, "keepdims": 0}),
        op("ArgMax_ties_first", "ArgMax", [x("x", (4, 9), fill="ties")], {"axis": 1}),
        op("ArgMax_ties_last_index", "ArgMax", [x("x", (4, 9), fill="ties")], {"axis": -1, "select_last_index": 1}),
        op("ArgMax_axis0_ties", "ArgMax", [x("x", (5, 3, 2), fill="ties")], {"axis": 0, "keepdims": 0}),
        op("ArgMax_int64_ties_last_index", "ArgMax", [x("x", (4, 9), "int64", fill="ties")], {"axis": 1, "select_last_index": 1}),
        op("ArgMax_int32_above_2_24", "ArgMax", [x("x", (3, 8), "int32", fill="range", range=[2**24, 2**24 + 9])], {"axis": -1}),
        op("ArgMax_int32_full_range", "ArgMax", [x("x", (2, 5, 6), "int32", fill="range", range=[-2**31, 2**31 - 1])], {"axis": 1, "keepdims": 0}),
        op("ArgMin_int32_full_range", "ArgMin", [x("x", (3, 7), "int32", fill="range", range=[-2**31, 2**31 - 1])], {"axis": 1}),
        op("ArgMin_int64_ties", "ArgMin", [x("x", (4, 9), "int64", fill="ties")], {"axis": -1}),
    ]
    return cases


def resize_cases():
    none = None  # an omitted optional input
    image = lambda: x("x", (1, 2, 5, 6))
    return [
        op("Resize_nearest_scales", "Resize", [image(), none, k("scales", [1.0, 1.0, 2.0, 1.5], "float32")],
           {"mode": "nearest"}, opset=19),
        op("Resize_nearest_asymmetric_floor", "Resize", [image(), none, k("scales", [1.0, 1.0, 0.6, 2.0], "float32")],
           {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, opset=19),
        op("Resize_linear_half_pixel_sizes", "Resize", [image(), none, none, k("sizes", [1, 2, 9, 4])],
           {"mode": "linear"}, opset=19),
        op("Resize_linear_align_corners", "Resize", [image(), none, k("scales", [1.0, 1.0, 1.6, 0.5], "float32")],
           {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, opset=19),
        op("Resize_cubic_pytorch_half_pixel", "Resize", [image(), none, k("scales", [1.0, 1.0, 2.0, 2.0], "float32")],
           {"mode": "cubic", "coordinate_transformation_mode": "pytorch_half_pixel"}, opset=19),
        op("Resize_cubic_exclude_outside", "Resize", [image(), none, none, k("sizes", [1, 2, 7, 11])],
           {"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5}, opset=19),
        op("Resize_linear_antialias_down", "Resize", [image(), none, k("scales", [1.0, 1.0, 0.6, 0.5], "float32")],
           {"mode": "linear", "antialias": 1}, opset=19),
        op("Resize_tf_crop_extrapolate", "Resize",
           [image(), k("roi", [0.0, 0.0, -0.2, 0.3, 1.0, 1.0, 0.8, 1.4], "float32"), none, k("sizes", [1, 2, 4, 5])],
           {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 7.5},
           opset=19),
        op("Upsample_nearest", "Upsample", [image(), k("scales", [1.0, 1.0, 2.0, 3.0], "float32")], {"mode": "nearest"},
           opset=9),
        op("Upsample_linear", "Upsample", [image(), k("scales", [1.0, 1.0, 1.5, 2.0], "float32")], {"mode": "linear"},
           opset=9),
        op("Resize_axes_sizes", "Resize", [image(), none, none, k("sizes", [8, 3])], {"mode": "linear", "axes": [3, 2]},
           opset=19),
    ]


# ---- tensor ops -------------------------------------------------------------------------------------

def tensor_cases():
    return [
        op("Gather_axis0_scalar_index", "Gather", [x("x", (5, 4, 3)), k("i", 3)]),
        op("Gather_axis0_negative_scalar", "Gather", [x("x", (5, 4, 3)), k("i", -2)]),
        op("Gather_axis1_2d_indices", "Gather", [x("x", (5, 4, 3)), k("i", [[0, -1], [2, 1], [3, 3]])], {"axis": 1}),
        op("Gather_axis_minus1", "Gather", [x("x", (2, 4, 5)), k("i", [4, 0, -3])], {"axis": -1}),
        op("Gather_runtime_indices", "Gather", [w("table", (11, 6)), x("i", (2, 5), "int64", fill="range", range=[0, 11])]),
        op("Gather_int64_data", "Gather", [x("x", (6, 3), "int64"), k("i", [5, -6, 2])]),
        op("Gather_runtime_indices_axis1", "Gather", [x("x", (3, 8)), x("i", (4,), "int64", fill="range", range=[0, 8])], {"axis": 1}),
        op("GatherND_depth2", "GatherND", [x("x", (3, 4, 5)), k("i", [[0, 1], [2, -1], [1, 3]])]),
        op("GatherND_depth3_nested", "GatherND", [x("x", (3, 4, 5)), k("i", [[[0, 1, 4]], [[2, 3, -5]]])]),
        op("GatherND_depth1", "GatherND", [x("x", (4, 3)), k("i", [[3], [0]])]),
        op("GatherElements_axis1", "GatherElements", [x("x", (3, 4)), k("i", [[0, 3], [1, -1], [2, 2]])], {"axis": 1}),
        op("GatherElements_axis0_3d", "GatherElements", [x("x", (3, 2, 4)), k("i", [[[2, 0, 1, -1]], [[0, 0, 2, 1]]])]),
        op("Transpose_perm_201", "Transpose", [x("x", (2, 3, 5))], {"perm": [2, 0, 1]}),
        op("Transpose_default", "Transpose", [x("x", (2, 3, 5))]),
        op("Transpose_4d_int64", "Transpose", [x("x", (2, 1, 3, 4), "int64")], {"perm": [0, 3, 1, 2]}),
        op("Reshape_zero_and_minus1", "Reshape", [x("x", (2, 3, 4)), k("s", [0, -1])]),
        op("Reshape_minus1_first", "Reshape", [x("x", (2, 3, 4)), k("s", [-1, 2, 3])]),
        graph("Reshape_after_transpose", [x("x", (2, 3, 4)), k("s", [4, 6])],
              [("Transpose", ["x"], ["t"], {"perm": [0, 2, 1]}), ("Reshape", ["t", "s"], ["y"])], ["y"]),
        op("Flatten_axis2", "Flatten", [x("x", (2, 3, 4, 5))], {"axis": 2}),
        op("Flatten_axis_minus1", "Flatten", [x("x", (2, 3, 4))], {"axis": -1}),
        op("Flatten_axis0", "Flatten", [x("x", (2, 3, 4))], {"axis": 0}),
        op("Squeeze_negative_axes", "Squeeze", [x("x", (3, 1, 4, 1)), k("a", [-1, 1])]),
        op("Squeeze_all", "Squeeze", [x("x", (1, 5, 1))]),
        op("Unsqueeze_negative_axes", "Unsqueeze", [x("x", (3, 4)), k("a", [0, -1])]),
        op("Unsqueeze_opset11_attr", "Unsqueeze", [x("x", (3, 4))], {"axes": [1]}, opset=11),
        op("Concat_three_negative_axis", "Concat", [x("a", (2, 3, 1)), x("b", (2, 3, 4)), x("c", (2, 3, 2))], {"axis": -1}),
        op("Concat_axis0_int64", "Concat", [x("a", (1, 3), "int64"), x("b", (2, 3), "int64")], {"axis": 0}),
        op("Concat_with_const", "Concat", [x("a", (2, 3)), w("b", (2, 2))], {"axis": 1}),
        op("Split_num_outputs_even", "Split", [x("x", (2, 6, 3))], {"axis": 1, "num_outputs": 3}, outputs=3),
        op("Split_num_outputs_uneven", "Split", [x("x", (7, 2))], {"num_outputs": 3}, outputs=3),
        op("Split_given_sizes_negative_axis", "Split", [x("x", (2, 7)), k("s", [2, 5])], {"axis": -1}, outputs=2),
        op("Split_opset11_attr", "Split", [x("x", (6, 3))], {"split": [1, 2, 3]}, outputs=3, opset=11),
        op("Slice_negative_starts_ends", "Slice", [x("x", (5, 6)), k("st", [-4, 1]), k("en", [-1, INT_MAX])]),
        op("Slice_steps_2", "Slice", [x("x", (5, 7, 3)), k("st", [0, 1]), k("en", [5, 7]), k("ax", [0, 1]), k("sp", [2, 3])]),
        op("Slice_negative_step_reverse", "Slice", [x("x", (4, 6)), k("st", [-1]), k("en", [-INT_MAX]), k("ax", [1]), k("sp", [-1])]),
        op("Slice_negative_step_2", "Slice", [x("x", (7, 3)), k("st", [5]), k("en", [0]), k("ax", [0]), k("sp", [-2])]),
        op("Slice_axes_subset_negative", "Slice", [x("x", (2, 3, 8)), k("st", [2]), k("en", [6]), k("ax", [-1])]),
        op("Slice_int64_data", "Slice", [x("x", (6, 4), "int64"), k("st", [1, 0]), k("en", [4, 3])]),
        op("Expand_3x1_to_2x3x4", "Expand", [x("x", (3, 1)), k("s", [2, 3, 4])]),
        op("Expand_shape_with_ones", "Expand", [x("x", (2, 1, 5)), k("s", [3, 1])]),
        op("Expand_int64", "Expand", [x("x", (1, 4), "int64"), k("s", [3, 4])]),
        op("Tile_2_1_3", "Tile", [x("x", (2, 3, 2)), k("r", [2, 1, 3])]),
        op("Tile_int64", "Tile", [x("x", (3,), "int64"), k("r", [2])]),
        op("Pad_constant_value", "Pad", [x("x", (2, 3, 4)), k("p", [0, 1, 2, 1, 0, 3]), k("v", 1.5, "float32")]),
        op("Pad_default_zero", "Pad", [x("x", (3, 5)), k("p", [1, 0, 2, 2])]),
        op("Pad_axes_negative", "Pad", [x("x", (2, 3, 4)), k("p", [1, 2]), k("v", -2.0, "float32"), k("ax", [-1])]),
        op("Pad_int64", "Pad", [x("x", (2, 3), "int64"), k("p", [1, 1, 0, 2]), k("v", 7)]),
        op("Trilu_upper", "Trilu", [x("x", (2, 4, 5))]),
        op("Trilu_lower_k1", "Trilu", [x("x", (4, 5)), k("k", 1)], {"upper": 0}),
        op("Trilu_upper_negative_k_int64", "Trilu", [x("x", (2, 5, 3), "int64"), k("k", -1)]),
        op("Identity_float", "Identity", [x("x", (2, 3))]),
        op("Identity_int64", "Identity", [x("x", (4,), "int64")]),
        op("Dropout_inference", "Dropout", [x("x", (3, 5))]),
        graph("Shape_ConstantOfShape_Add", [x("x", (3, 5))],
              [("Shape", ["x"], ["s"]), ("ConstantOfShape", ["s"], ["c"], {"value": {"dtype": "float32", "value": [2.0]}}),
               ("Add", ["x", "c"], ["y"])], ["y"]),
        graph("Range_Mul", [x("x", (3, 5)), k("start", 1.0, "float32"), k("limit", 6.0, "float32"), k("delta", 1.0, "float32")],
              [("Range", ["start", "limit", "delta"], ["r"]), ("Mul", ["x", "r"], ["y"])], ["y"]),
        graph("Shape_Size_arith_Reshape", [x("x", (2, 3, 4)), k("zero", [0]), k("minus1", [-1])],
              [("Shape", ["x"], ["s"]), ("Gather", ["s", "zero"], ["d0"]), ("Concat", ["d0", "minus1"], ["shape"], {"axis": 0}),
               ("Reshape", ["x", "shape"], ["y"])], ["y"]),
        graph("Size_as_scale", [x("x", (2, 3))],
              [("Size", ["x"], ["n"]), ("Cast", ["n"], ["nf"], {"to": FLOAT}), ("Div", ["x", "nf"], ["y"])], ["y"]),
        graph("Constant_node_Add", [x("x", (2, 3))],
              [("Constant", [], ["c"], {"value_floats": [0.5, -1.0, 2.0]}), ("Add", ["x", "c"], ["y"])], ["y"]),
        graph("ConstantOfShape_runtime_fill_int64", [x("x", (2, 4), "int64")],
              [("Shape", ["x"], ["s"]), ("ConstantOfShape", ["s"], ["c"], {"value": {"dtype": "int64", "value": [3]}}),
               ("Mul", ["x", "c"], ["y"])], ["y"]),
    ]


def multi_output_cases():
    """Several nodes: views feeding kernels, several outputs, chains of types."""
    return [
        graph("Add_of_transposed_and_sliced", [x("a", (4, 6)), x("b", (6, 8)), k("st", [1]), k("en", [8]), k("ax", [1]), k("sp", [2])],
              [("Transpose", ["a"], ["at"], {"perm": [1, 0]}), ("Slice", ["b", "st", "en", "ax", "sp"], ["bs"]),
               ("Add", ["at", "bs"], ["y"])], ["y"]),
        graph("MatMul_of_sliced_rows", [x("a", (9, 6)), w("b", (6, 5)), k("st", [1]), k("en", [8]), k("ax", [0]), k("sp", [2])],
              [("Slice", ["a", "st", "en", "ax", "sp"], ["as"]), ("MatMul", ["as", "b"], ["y"])], ["y"]),
        graph("ReduceMean_of_transposed", [x("a", (3, 4, 5)), k("axes", [1])],
              [("Transpose", ["a"], ["t"], {"perm": [2, 0, 1]}), ("ReduceMean", ["t", "axes"], ["y"])], ["y"]),
        graph("LayerNorm_of_transposed", [x("a", (6, 2, 5)), w("s", (6,)), w("b", (6,))],
              [("Transpose", ["a"], ["t"], {"perm": [1, 2, 0]}), ("LayerNormalization", ["t", "s", "b"], ["y"])], ["y"], opset=17),
        graph("Conv_of_transposed_input", [x("a", (1, 6, 6, 3)), w("w", (4, 3, 3, 3))],
              [("Transpose", ["a"], ["t"], {"perm": [0, 3, 1, 2]}), ("Conv", ["t", "w"], ["y"], {"pads": [1, 1, 1, 1]})], ["y"]),
        graph("Softmax_size1_axis_and_Expand_output", [x("a", (3, 1)), k("shape", [2, 3, 4])],
              [("Softmax", ["a"], ["y0"]), ("Expand", ["a", "shape"], ["y1"])], ["y0", "y1"]),
        graph("Split_outputs_are_views", [x("a", (4, 6))],
              [("Split", ["a"], ["y0", "y1"], {"axis": 1, "num_outputs": 2})], ["y0", "y1"]),
        graph("Compare_Not_Where_chain", [x("a", (3, 5), fill="ties"), x("b", (5,), fill="ties")],
              [("Greater", ["a", "b"], ["g"]), ("Not", ["g"], ["n"]), ("Where", ["n", "a", "b"], ["y0"]),
               ("Cast", ["g"], ["y1"], {"to": FLOAT})], ["y0", "y1"]),
        graph("Gather_then_MatMul", [x("ids", (2, 3), "int64", fill="range", range=[0, 10]), w("emb", (10, 8)), w("p", (8, 4))],
              [("Gather", ["emb", "ids"], ["e"]), ("MatMul", ["e", "p"], ["y"])], ["y"]),
        graph("Int64_index_arith", [x("a", (2, 6), "int64"), k("two", 2), k("one", 1), k("three", 3)],
              [("Mul", ["a", "two"], ["m"]), ("Sub", ["m", "one"], ["s"]), ("Div", ["s", "three"], ["y"])], ["y"]),
        graph("Elementwise_large_odd", [x("a", (3, 37, 41)), x("b", (37, 1))],
              [("Mul", ["a", "b"], ["m"]), ("Tanh", ["m"], ["y"])], ["y"]),
        op("MatMul_64x128x96", "MatMul", [x("a", (64, 128)), w("b", (128, 96))]),
        # Everything constant: the compiler folds these with its numpy reference ops.
        op("Folded_ArgMax_last_index", "ArgMax", [w("x", (4, 9), fill="ties")], {"axis": 1, "select_last_index": 1}),
        op("Folded_GatherElements", "GatherElements", [w("x", (3, 2, 4)), k("i", [[[2, 0, 1, -1]], [[0, 0, 2, 1]]])]),
        op("Folded_Softmax_opset11", "Softmax", [w("x", (2, 3, 4))], opset=11),
        op("Folded_Trilu", "Trilu", [w("x", (3, 4)), k("k", -1)], {"upper": 0}),

        graph("Two_outputs_shared_input", [x("a", (3, 4))],
              [("Exp", ["a"], ["e"]), ("Neg", ["e"], ["y0"]), ("Sigmoid", ["e"], ["y1"])], ["y0", "y1"]),
        graph("Output_is_view_of_input", [x("a", (3, 4))], [("Transpose", ["a"], ["y"], {"perm": [1, 0]})], ["y"]),
    ]


def bitwise_layout_norm_cases():
    """BitShift and the bitwise ops, BitCast, Atan's range, layout, window, normalisation and Det."""
    i32_all = {"fill": "range", "range": [-2**31, 2**31 - 1]}
    shifts = {"fill": "range", "range": [-40, 70]}
    cases = [
        op("BitShift_left_int32", "BitShift", [x("a", (4, 9), "int32", **i32_all), x("b", (9,), "int32", **shifts)],
           {"direction": "LEFT"}, opset=28),
        op("BitShift_right_int32", "BitShift", [x("a", (4, 9), "int32", **i32_all), x("b", (4, 1), "int32", **shifts)],
           {"direction": "RIGHT"}, opset=28),
        op("BitShift_right_int64", "BitShift", [x("a", (3, 7), "int64", **i32_all), x("b", (7,), "int64", **shifts)],
           {"direction": "RIGHT"}, opset=28),
        op("BitShift_left_int64_fits", "BitShift", [x("a", (3, 7), "int64", fill="range", range=[-1000, 1000]),
                                                    x("b", (7,), "int64", fill="range", range=[0, 21])],
           {"direction": "LEFT"}, opset=28),
        op("BitwiseAnd_int32", "BitwiseAnd", [x("a", (3, 8), "int32", **i32_all), x("b", (8,), "int32", **i32_all)]),
        op("BitwiseOr_int64", "BitwiseOr", [x("a", (3, 8), "int64", **i32_all), x("b", (3, 1), "int64", **i32_all)]),
        op("BitwiseXor_int32", "BitwiseXor", [x("a", (2, 3, 4), "int32", **i32_all), x("b", (4,), "int32", **i32_all)]),
        op("BitwiseNot_int32", "BitwiseNot", [x("a", (5, 7), "int32", **i32_all)]),
        op("BitwiseNot_int64", "BitwiseNot", [x("a", (5, 7), "int64", **i32_all)]),
        op("BitCast_float_to_int32", "BitCast", [x("a", (3, 7))], {"to": INT32}, opset=26),
        graph("BitCast_int32_to_float_add", [x("a", (3, 7), "int32", fill="range", range=[0x3f000000, 0x41000000])],
              [("BitCast", ["a"], ["f"], {"to": FLOAT}), ("Add", ["f", "f"], ["y"])], ["y"], opset=26),
        op("Atan_wide", "Atan", [x("a", (5, 13), fill="specials")]),
        graph("Asin_Acos_edges", [x("a", (40,), fill="unit"),
                                  k("e", [-1.0, 1.0, -0.9999999, 0.9999999, 0.5, -0.5, 1e-7, 0.0, 1.5, -2.0], "float32")],
              [("Concat", ["a", "e"], ["c"], {"axis": 0}), ("Asin", ["c"], ["y0"]), ("Acos", ["c"], ["y1"])], ["y0", "y1"]),
        op("SpaceToDepth_b2", "SpaceToDepth", [x("a", (2, 3, 4, 6))], {"blocksize": 2}),
        op("DepthToSpace_DCR", "DepthToSpace", [x("a", (2, 8, 2, 3))], {"blocksize": 2, "mode": "DCR"}),
        op("DepthToSpace_CRD", "DepthToSpace", [x("a", (1, 18, 2, 3))], {"blocksize": 3, "mode": "CRD"}),
        graph("HannWindow_times_x", [k("n", 10), x("a", (3, 10))],
              [("HannWindow", ["n"], ["w"]), ("Mul", ["w", "a"], ["y"])], ["y"]),
        graph("HammingWindow_symmetric", [k("n", 7, "int32"), x("a", (7,))],
              [("HammingWindow", ["n"], ["w"], {"periodic": 0}), ("Add", ["w", "a"], ["y"])], ["y"]),
        graph("BlackmanWindow_times_x", [k("n", 12), x("a", (12,))],
              [("BlackmanWindow", ["n"], ["w"]), ("Mul", ["w", "a"], ["y"])], ["y"]),
        graph("MelWeightMatrix_matmul", [k("bins", 8), k("length", 16), k("rate", 8000), k("low", 0.0, "float32"),
                                         k("high", 4000.0, "float32"), x("a", (3, 9))],
              [("MelWeightMatrix", ["bins", "length", "rate", "low", "high"], ["m"]), ("MatMul", ["a", "m"], ["y"])],
              ["y"], opset=17),
        graph("EyeLike_k1_float_add", [x("e", (4, 5), "int32"), x("a", (4, 5))],
              [("EyeLike", ["e"], ["i"], {"k": 1, "dtype": FLOAT}), ("Add", ["i", "a"], ["y"])], ["y"]),
        op("CumProd_int32_axis1", "CumProd", [x("a", (3, 6), "int32", fill="ties"), k("axis", 1, "int32")], opset=26),
        op("CumProd_exclusive_reverse", "CumProd", [x("a", (2, 5, 3)), k("axis", 1)], {"exclusive": 1, "reverse": 1},
           opset=26),
        op("ReverseSequence_time", "ReverseSequence",
           [x("a", (5, 4, 3)), x("lens", (4,), "int64", fill="range", range=[1, 6])], {"batch_axis": 1, "time_axis": 0}),
        op("ReverseSequence_batch", "ReverseSequence",
           [x("a", (3, 6)), x("lens", (3,), "int64", fill="range", range=[1, 7])], {"batch_axis": 0, "time_axis": 1}),
        op("Det_2x2_batch", "Det", [x("a", (3, 2, 2))]),
        op("Det_3x3_batch", "Det", [x("a", (2, 4, 3, 3))]),
        graph("Det_5x5_constant_folded", [w("m", (2, 5, 5)), x("a", (2,))], [("Det", ["m"], ["d"]), ("Mul", ["d", "a"], ["y"])],
              ["y"]),
        op("Det_1x1", "Det", [x("a", (3, 1, 1))]),
        op("InstanceNormalization_4d", "InstanceNormalization", [x("a", (2, 3, 4, 5)), w("s", (3,)), w("b", (3,))],
           {"epsilon": 1e-3}),
        op("InstanceNormalization_offset_values", "InstanceNormalization",
           [x("a", (1, 2, 3, 7), fill="positive"), w("s", (2,)), x("b", (2,))]),
        graph("InstanceNormalization_large_mean", [x("a", (2, 3, 5, 7)), k("shift", 30.0, "float32"), w("s", (3,)),
                                                   w("b", (3,))],  # the variance from centred values: no cancellation
              [("Add", ["a", "shift"], ["big"]), ("InstanceNormalization", ["big", "s", "b"], ["y"])], ["y"]),
        dict(op("GroupNormalization_opset21", "GroupNormalization", [x("a", (2, 6, 3, 4)), w("s", (6,)), w("b", (6,))],
                {"num_groups": 3}, opset=21), output_types={"y": ["float32", [2, 6, 3, 4]]}),
        dict(op("GroupNormalization_3d_offset", "GroupNormalization", [x("a", (2, 4, 5), fill="positive"),
                                                                       w("s", (4,)), x("b", (4,))],
                {"num_groups": 2, "epsilon": 1e-2}, opset=21), output_types={"y": ["float32", [2, 4, 5]]}),
        dict(op("MeanVarianceNormalization_default", "MeanVarianceNormalization", [x("a", (3, 4, 2, 5))]),
             output_types={"y": ["float32", [3, 4, 2, 5]]}),
        dict(op("MeanVarianceNormalization_axes", "MeanVarianceNormalization", [x("a", (3, 4, 5))], {"axes": [1, 2]}),
             output_types={"y": ["float32", [3, 4, 5]]}),
        op("LRN_size3", "LRN", [x("a", (2, 5, 3, 3))], {"size": 3, "alpha": 0.01, "beta": 0.6, "bias": 1.5}),
        op("LRN_size5_default", "LRN", [x("a", (1, 6, 2, 4))], {"size": 5}),
        op("BatchNormalization_runtime_stats", "BatchNormalization",
           [x("a", (2, 3, 4, 5)), x("s", (3,)), x("b", (3,)), x("m", (3,)), x("v", (3,), fill="positive")],
           {"epsilon": 1e-3}),
        op("BatchNormalization_training", "BatchNormalization",
           [x("a", (2, 3, 4, 5)), w("s", (3,)), x("b", (3,)), w("m", (3,)), x("v", (3,), fill="positive")],
           {"epsilon": 1e-2, "momentum": 0.8, "training_mode": 1}, outputs=3, opset=15),
        op("GatherND_runtime_indices", "GatherND",
           [x("a", (3, 4, 5)), x("i", (2, 3, 2), "int64", fill="range", range=[-3, 3])]),
        op("GatherND_batch_dims1", "GatherND",
           [x("a", (2, 3, 4), "int32"), x("i", (2, 5, 1), "int64", fill="range", range=[-3, 3])], {"batch_dims": 1}),
        op("Dropout_training_zero_ratio", "Dropout", [x("a", (3, 4)), k("r", 0.0, "float32"), k("t", True, "bool")],
           outputs=2),
        op("ReduceMax_bool", "ReduceMax", [x("a", (4, 5), "bool"), k("axes", [1])], opset=20),
        op("ReduceMin_bool", "ReduceMin", [x("a", (3, 4, 2), "bool"), k("axes", [0, 2])], {"keepdims": 0}, opset=20),
        op("ReduceMax_int64", "ReduceMax", [x("a", (3, 5), "int64", fill="range", range=[-2**31, 2**31 - 1]),
                                            k("axes", [1])], opset=20),
        op("ReduceMin_int32_all", "ReduceMin", [x("a", (4, 3, 2), "int32", fill="range", range=[-2**31, 2**31 - 1])],
           {"keepdims": 0}, opset=20),
        op("ReduceMax_empty_set", "ReduceMax", [x("a", (2, 0, 4)), k("axes", [1])], opset=20),
        op("ReduceMin_empty_set_int32", "ReduceMin", [x("a", (2, 0, 3), "int32"), k("axes", [1])], opset=20),
        op("Mod_fmod_int32", "Mod", [x("a", (3, 7), "int32", fill="int"), x("b", (7,), "int32", fill="nonzero")],
           {"fmod": 1}),
        op("Mod_fmod_int64", "Mod", [x("a", (3, 7), "int64", fill="int"), x("b", (3, 1), "int64", fill="nonzero")],
           {"fmod": 1}),
        op("Pad_runtime_value", "Pad", [x("a", (2, 3)), k("p", [1, 0, 0, 2]), x("v", ())]),
        op("Pad_wrap", "Pad", [x("a", (2, 3, 4), "int32"), k("p", [0, 2, 1, 1, 3, 4])], {"mode": "wrap"}, opset=19),
        graph("NonZero_constant_folded", [k("c", [[1, 0, 2], [0, 3, 0]]), x("a", (2, 3), "int64")],
              [("NonZero", ["c"], ["nz"]), ("Add", ["nz", "a"], ["y"])], ["y"]),
        graph("Unique_constant_folded_not_sorted", [k("c", [4.0, 1.0, 4.0, 2.0, 1.0], "float32"), x("a", (3,)),
                                                    x("b", (5,), "int64")],
              [("Unique", ["c"], ["u", "first", "inverse", "counts"], {"sorted": 0}), ("Add", ["u", "a"], ["y0"]),
               ("Add", ["inverse", "b"], ["y1"])], ["y0", "y1"]),
        op("TfIdfVectorizer_tfidf_uni_bi_tri_skip", "TfIdfVectorizer",
           [x("a", (3, 14), "int64", fill="range", range=[0, 4])],
           {"mode": "TFIDF", "min_gram_length": 1, "max_gram_length": 3, "max_skip_count": 2,
            "ngram_counts": [0, 3, 7], "ngram_indexes": [4, 0, 1, 2, 5, 3, 6],
            "pool_int64s": [0, 1, 3, 0, 1, 2, 2, 3, 1, 1, 0, 2, 1], "weights": [0.5, 1.5, 2.0, 1.0, 3.0, 0.25, 2.5]},
           opset=9),
        op("TfIdfVectorizer_idf_bigrams_1d", "TfIdfVectorizer", [x("a", (11,), "int32", fill="range", range=[0, 3])],
           {"mode": "IDF", "min_gram_length": 2, "max_gram_length": 2, "max_skip_count": 1,
            "ngram_counts": [0, 0], "ngram_indexes": [0, 1, 2, 3], "pool_int64s": [1, 2, 0, 1, 2, 2, 1, 0],
            "weights": [0.5, 1.5, 2.0, 4.0]}, opset=9),
        graph("Binarizer_ml_domain", [x("a", (3, 7), fill="halves")],
              [("Binarizer", ["a"], ["y"], {"threshold": 0.5})], ["y"]),
        graph("ArrayFeatureExtractor_ml_domain", [x("a", (2, 3, 5)), x("i", (4,), "int64", fill="range", range=[0, 5])],
              [("ArrayFeatureExtractor", ["a", "i"], ["y"])], ["y"]),
        graph("NonMaxSuppression_constant_folded",
              [k("boxes", [[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11], [1, 1, 0, 0.2]]], "float32"),
               k("scores", [[[0.9, 0.75, 0.6, 0.95, 0.5], [0.3, 0.2, 0.9, 0.1, 0.05]]], "float32"),
               k("limit", [2]), k("iou", [0.5], "float32"), k("floor", [0.08], "float32"), x("a", (4, 3), "int64")],
              [("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "floor"], ["sel"]), ("Add", ["sel", "a"], ["y"])],
              ["y"]),
        op("RoiAlign_avg_half_pixel", "RoiAlign",
           [x("a", (2, 3, 8, 9)), x("r", (4, 4), fill="range", range=[-1, 10]), x("b", (4,), "int64", fill="range",
                                                                                range=[0, 2])],
           {"output_height": 3, "output_width": 4, "sampling_ratio": 2, "spatial_scale": 0.8}, opset=16),
        op("RoiAlign_max_output_half_pixel", "RoiAlign",
           [x("a", (1, 2, 7, 6)), x("r", (3, 4), fill="range", range=[0, 7]), x("b", (3,), "int64", fill="range",
                                                                               range=[0, 1])],
           {"output_height": 2, "output_width": 2, "sampling_ratio": 3, "mode": "max",
            "coordinate_transformation_mode": "output_half_pixel"}, opset=16),
        op("RoiAlign_adaptive_grid_constant_rois", "RoiAlign",
           [x("a", (1, 2, 9, 9)), k("r", [[0.5, 1.0, 6.5, 7.0], [2.0, 0.0, 8.0, 6.0]], "float32"), k("b", [0, 0])],
           {"output_height": 3, "output_width": 3}, opset=16),
        op("Compress_constant_condition", "Compress", [x("a", (3, 4)), k("c", [True, False, True, True], "bool")],
           {"axis": 1}),
        op("Compress_flattened", "Compress", [x("a", (2, 3)), k("c", [False, True, True, False, True], "bool")]),
    ]
    return cases


def body(name, inputs, nodes, outputs):
    """A control-flow body attribute: inputs and outputs are [name, dtype, shape or None], nodes as in graph()."""
    return {"graph": {"name": name, "inputs": [list(v) for v in inputs], "outputs": [list(v) for v in outputs],
                      "nodes": graph("", [], nodes, [])["nodes"]}}


def control_flow_cases():
    """If, Loop and Scan: inlined or unrolled at import, bodies reading outer-scope values."""
    f = "float32"
    rnn_step = body("step", [["h", f, [1, 3]], ["xt", f, [1, 3]]],
                    [("MatMul", ["h", "w"], ["hw"]), ("Add", ["hw", "xt"], ["pre"]), ("Tanh", ["pre"], ["h_out"]),
                     ("Identity", ["h_out"], ["y_t"])], [["h_out", f, [1, 3]], ["y_t", f, [1, 3]]])
    sums = body("sums", [["s", f, [2]], ["p", f, [2]], ["xt", f, [2]]],
                [("Add", ["s", "xt"], ["s_out"]), ("Mul", ["p", "xt"], ["p_out"]), ("Mul", ["s_out", "xt"], ["y_t"])],
                [["s_out", f, [2]], ["p_out", f, [2]], ["y_t", f, [2]]])
    loop = body("loop", [["i", "int64", []], ["c", "bool", []], ["acc", f, [2, 3]]],
                [("Cast", ["i"], ["fi"], {"to": FLOAT}), ("Mul", ["acc", "fi"], ["scaled"]), ("Add", ["scaled", "x"], ["acc_out"]),
                 ("Less", ["i", "stop"], ["c_out"]), ("ReduceSum", ["acc_out"], ["y_i"], {"keepdims": 0})],
                [["c_out", "bool", []], ["acc_out", f, [2, 3]], ["y_i", f, []]])
    branch = lambda name, op_type: body(name, [], [(op_type, ["x", "b"], [f"{name}_y"])], [[f"{name}_y", f, [2, 3]]])
    pick = body("pick", [["i", "int64", []], ["c", "bool", []], ["acc", f, [2, 3]]],
                [("Equal", ["i", "one"], ["is_one"]),
                 ("If", ["is_one"], ["acc_out"], {"then_branch": body("add", [], [("Add", ["acc", "x"], ["add_y"])],
                                                                     [["add_y", f, [2, 3]]]),
                                                  "else_branch": body("mul", [], [("Mul", ["acc", "x"], ["mul_y"])],
                                                                      [["mul_y", f, [2, 3]]])}),
                 ("Identity", ["c"], ["c_out"])],
                [["c_out", "bool", []], ["acc_out", f, [2, 3]]])
    return [
        graph("Loop_nested_If_reads_body_values", [x("acc0", (2, 3)), x("x", (2, 3)), k("n", 3), k("one", 1),
                                                   k("shape", [2, 3])],
              [("Loop", ["n", "", "acc0"], ["acc"], {"body": pick}), ("Reshape", ["acc", "shape"], ["y"])], ["y"], opset=16),
        graph("Scan_outer_weight_rnn", [x("h0", (1, 3)), x("xs", (4, 1, 3)), x("w", (3, 3))],
              [("Scan", ["h0", "xs"], ["h", "ys"], {"num_scan_inputs": 1, "body": rnn_step})], ["h", "ys"], opset=16),
        graph("Scan_opset8_batch_reverse", [x("s0", (2, 2)), x("xs", (2, 3, 2))],
              [("Scan", ["", "s0", "xs"], ["s", "ys"],
                {"num_scan_inputs": 1, "directions": [1],
                 "body": body("acc", [["s", f, [2]], ["xt", f, [2]]],
                              [("Add", ["s", "xt"], ["s_out"]), ("Mul", ["s_out", "xt"], ["y_t"])],
                              [["s_out", f, [2]], ["y_t", f, [2]]])})], ["s", "ys"], opset=8),
        graph("Scan_reverse_axes_two_states", [x("s0", (2,)), x("p0", (2,)), x("xs", (2, 5))],
              [("Scan", ["s0", "p0", "xs"], ["s", "p", "ys"],
                {"num_scan_inputs": 1, "body": sums, "scan_input_axes": [1], "scan_input_directions": [1],
                 "scan_output_axes": [-1], "scan_output_directions": [1]})], ["s", "p", "ys"], opset=16),
        graph("Loop_cond_stops_early", [x("acc0", (2, 3)), x("x", (2, 3)), k("n", 10), k("go", True, "bool"), k("stop", 2),
                                        k("shape", [3, 2])],  # loop-carried values have no static shape in ONNX
              [("Loop", ["n", "go", "acc0"], ["acc", "sums"], {"body": loop}), ("Reshape", ["acc", "shape"], ["y"])],
              ["y", "sums"], opset=16),
        *[graph(f"If_runtime_condition_{compare}", [x("x", (2, 3)), x("b", (3,)), k("one", 1.0, "float32")],
                [("ReduceSum", ["x"], ["s"], {"keepdims": 0}), (compare, ["s", "one"], ["c"]),
                 ("If", ["c"], ["y"], {"then_branch": branch("then", "Add"), "else_branch": branch("else", "Sub")})],
                ["y"], opset=16) for compare in ("Greater", "GreaterOrEqual")],  # their inputs take one branch each
        graph("If_on_folded_shape", [x("x", (2, 3)), x("b", (3,)), k("two", 2)],
              [("Shape", ["x"], ["s"]), ("Size", ["s"], ["rank"]), ("Equal", ["rank", "two"], ["is2d"]),
               ("If", ["is2d"], ["y"], {"then_branch": branch("then", "Add"), "else_branch": branch("else", "Sub")})],
              ["y"], opset=16),
    ]


def recurrent_cases():
    """RNN, GRU and LSTM: unrolled at import; constant sequence_lens mask rows past their length."""
    lens = k("lens", [3, 1, 0], "int32")
    return [
        op("RNN_bidirectional_lens_initial_h", "RNN",
           [x("x", (3, 3, 2)), x("w", (2, 4, 2)), x("r", (2, 4, 4)), x("b", (2, 8)), lens, x("h0", (2, 3, 4))],
           {"hidden_size": 4, "direction": "bidirectional"}, outputs=2),
        op("RNN_activation_alpha_clip", "RNN", [x("x", (4, 2, 3)), w("w", (1, 5, 3)), w("r", (1, 5, 5))],
           {"hidden_size": 5, "activations": ["LeakyRelu"], "activation_alpha": [0.2], "clip": 0.8}, outputs=2),
        op("GRU_linear_before_reset_reverse_lens", "GRU",
           [x("x", (3, 3, 2)), x("w", (1, 12, 2)), x("r", (1, 12, 4)), x("b", (1, 24)), lens],
           {"hidden_size": 4, "direction": "reverse", "linear_before_reset": 1}, outputs=2),
        op("GRU_initial_h_hardsigmoid", "GRU",  # layout 1 (onnxruntime lacks it): ONNX's batchwise node cases
           [x("x", (4, 2, 3)), w("w", (1, 15, 3)), w("r", (1, 15, 5)), w("b", (1, 30)), None, x("h0", (1, 2, 5))],
           {"hidden_size": 5, "activations": ["HardSigmoid", "Tanh"], "activation_alpha": [0.3],
            "activation_beta": [0.4]}, outputs=2),
        op("LSTM_bidirectional_peepholes_lens", "LSTM",
           [x("x", (3, 3, 2)), x("w", (2, 16, 2)), x("r", (2, 16, 4)), x("b", (2, 32)), lens, x("h0", (2, 3, 4)),
            x("c0", (2, 3, 4)), x("p", (2, 12))], {"hidden_size": 4, "direction": "bidirectional"}, outputs=3),
        op("LSTM_reverse_clip", "LSTM", [x("x", (5, 2, 3)), w("w", (1, 12, 3)), w("r", (1, 12, 3)), w("b", (1, 24))],
           {"hidden_size": 3, "direction": "reverse", "clip": 1.5}, outputs=3),
    ]


def topk_cases():
    """TopK: ranks by comparisons, ties to the lower index."""
    return [
        op("TopK_ties_axis1", "TopK", [x("x", (3, 7, 2), fill="ties"), k("k", [4])], {"axis": 1}, outputs=2),
        op("TopK_smallest_last_axis", "TopK", [x("x", (2, 9)), k("k", [3])], {"largest": 0}, outputs=2),
        op("TopK_int64_negative_axis", "TopK", [x("x", (5, 4), "int64"), k("k", [5])], {"axis": -2}, outputs=2),
        op("TopK_nan_largest", "TopK", [x("x", (3, 6), fill="with_nan"), k("k", [4])], outputs=2),
        op("TopK_nan_smallest", "TopK", [x("x", (3, 6), fill="with_nan"), k("k", [5])], {"largest": 0}, outputs=2),
        op("TopK_two_stages_ties", "TopK", [x("x", (1, 5000), fill="ties"), k("k", [7])], outputs=2),
        op("TopK_two_stages_smallest_axis0_nan", "TopK", [x("x", (3000, 2), fill="with_nan"), k("k", [40])],
           {"axis": 0, "largest": 0}, outputs=2),
        op("TopK_opset9_attribute_k", "TopK", [x("x", (3, 6))], {"k": 2, "axis": 0}, outputs=2, opset=9),
        op("TopK_k_equals_n_wide", "TopK", [x("x", (2, 130), fill="ties"), k("k", [130])], outputs=2),
    ]


def scatter_cases():
    """Scatters with runtime indices and updates: negative and duplicate indices, reductions."""
    i64 = "int64"
    return [
        op("ScatterElements_runtime_negative_duplicates", "ScatterElements",
           [x("d", (3, 5)), x("i", (3, 4), i64, fill="range", range=[-5, 5]), x("u", (3, 4))], {"axis": 1}),
        op("ScatterElements_axis0_smaller_indices_int64", "ScatterElements",
           [x("d", (4, 3, 2), i64), x("i", (2, 2, 1), i64, fill="range", range=[-4, 4]), x("u", (2, 2, 1), i64)]),
        op("ScatterElements_add_duplicates", "ScatterElements",
           [x("d", (2, 6)), x("i", (2, 5), i64, fill="range", range=[0, 3]), x("u", (2, 5))], {"axis": 1, "reduction": "add"}),
        op("ScatterElements_max_axis0", "ScatterElements",
           [x("d", (4, 3)), x("i", (5, 3), i64, fill="range", range=[0, 4]), x("u", (5, 3))], {"reduction": "max"}),
        op("Scatter_opset10", "Scatter", [x("d", (3, 4)), k("i", [[1, 0, 3], [2, -1, 0]]), x("u", (2, 3))], {"axis": 1},
           opset=10),
        op("ScatterND_slices_runtime", "ScatterND",
           [x("d", (4, 3, 2)), x("i", (2, 1), i64, fill="range", range=[-4, 4]), x("u", (2, 3, 2))]),
        op("ScatterND_elements_mul_duplicates", "ScatterND",
           [x("d", (3, 4)), k("i", [[[0, 1], [2, -1]], [[0, 1], [1, 2]]]), x("u", (2, 2))], {"reduction": "mul"}),
        op("ScatterND_min_int_indices", "ScatterND",
           [x("d", (2, 3, 4)), x("i", (3, 2), i64, fill="range", range=[0, 2]), x("u", (3, 4))], {"reduction": "min"}),
        op("TensorScatter_runtime_write_indices", "TensorScatter",
           [x("past", (2, 3, 6, 4)), x("upd", (2, 3, 2, 4)), x("at", (2,), i64, fill="range", range=[0, 5])], opset=24),
        op("TensorScatter_circular_axis1_rank3", "TensorScatter",
           [x("past", (2, 5, 3)), x("upd", (2, 3, 3)), x("at", (2,), i64, fill="range", range=[0, 5])],
           {"axis": 1, "mode": "circular"}, opset=24),
    ]


def function_cases():
    """Ops with no rule of their own, expanded to the function bodies ONNX defines them by."""
    return [
        op("Function_MeanVarianceNormalization_axes", "MeanVarianceNormalization", [x("x", (2, 3, 4, 5))],
           {"axes": [0, 3]}),
        op("Function_AffineGrid_runtime_theta", "AffineGrid", [x("theta", (2, 2, 3)), k("size", [2, 3, 4, 5])],
           {"align_corners": 1}, opset=20),
    ]


def dtype_cases():
    """float16 and 8-bit values (held wide on the device, dtypes.py) and the quantized ops (quant.py)."""
    F16, U8, I8 = 10, 2, 3
    u8, i8 = lambda n, s: x(n, s, "uint8", fill="full"), lambda n, s: x(n, s, "int8", fill="full")
    return [
        op("Cast_float_to_float16", "Cast", [x("x", (4, 9), fill="specials")], {"to": F16}),
        op("Cast_float16_to_float", "Cast", [x("x", (4, 9), "float16")], {"to": FLOAT}),
        op("Cast_float_to_uint8", "Cast", [x("x", (3, 7), fill="range", range=[0, 256])], {"to": U8}),
        op("Cast_int32_to_int8_wraps", "Cast", [x("x", (3, 7), "int32", fill="range", range=[-400, 400])], {"to": I8}),
        op("Cast_uint8_to_float", "Cast", [u8("x", (3, 7))], {"to": FLOAT}),
        op("Add_float16", "Add", [x("a", (3, 5), "float16"), x("b", (5,), "float16")]),
        op("Mul_uint8_wraps", "Mul", [u8("a", (3, 5)), u8("b", (3, 5))]),
        op("Sub_int8_wraps", "Sub", [i8("a", (3, 5)), i8("b", (3, 5))]),
        op("BitwiseAnd_uint8_broadcast", "BitwiseAnd", [u8("a", (3, 5)), u8("b", (5,))]),
        op("BitwiseOr_int8", "BitwiseOr", [i8("a", (3, 5)), i8("b", (3, 5))]),
        op("BitwiseXor_int32_small", "BitwiseXor", [x("a", (3, 5), "int32", fill="range", range=[-1000, 1000]),
                                             x("b", (3, 5), "int32", fill="range", range=[-1000, 1000])]),
        op("BitwiseNot_uint8", "BitwiseNot", [u8("x", (3, 5))]),
        op("ReduceMax_uint8", "ReduceMax", [u8("x", (3, 5)), k("axes", [1])], {"keepdims": 0}),
        op("MaxPool_int8", "MaxPool", [i8("x", (1, 2, 4, 4))], {"kernel_shape": [2, 2]}),
        op("QuantizeLinear_uint8", "QuantizeLinear", [x("x", (3, 8)), k("s", 0.02, "float32"), k("z", 128, "uint8")]),
        op("QuantizeLinear_int8_axis", "QuantizeLinear", [x("x", (3, 4)), k("s", [0.01, 0.02, 0.05, 0.1], "float32"),
                                                           k("z", [0, -3, 5, 1], "int8")], {"axis": 1}),
        op("QuantizeLinear_blocked", "QuantizeLinear", [x("x", (2, 6)), k("s", [[0.01, 0.02], [0.03, 0.04]], "float32"),
                                                        k("z", [[1, 2], [3, 4]], "uint8")], {"axis": 1, "block_size": 3},
           opset=21),
        op("DequantizeLinear_int8_axis", "DequantizeLinear", [i8("x", (2, 3, 4)), k("s", [0.5, 0.25, 2.0], "float32"),
                                                              k("z", [1, 0, -2], "int8")], {"axis": 1}),
        op("DequantizeLinear_uint8_float16", "DequantizeLinear", [u8("x", (5,)), k("s", 0.5, "float16"), k("z", 7, "uint8")],
           opset=21),
        op("DynamicQuantizeLinear", "DynamicQuantizeLinear", [x("x", (3, 5))], outputs=3),
        op("MatMulInteger", "MatMulInteger", [u8("a", (3, 9)), u8("b", (9, 4)), k("az", 120, "uint8"),
                                              k("bz", [1, 2, 3, 4], "uint8")]),
        op("ConvInteger", "ConvInteger", [u8("x", (1, 2, 5, 5)), dict(u8("w", (3, 2, 3, 3)), const=True),
                                          k("xz", 100, "uint8")], {"pads": [1, 1, 1, 1]}),
        op("QLinearMatMul_uint8", "QLinearMatMul", [u8("a", (2, 3, 8)), k("as", 0.05, "float32"), k("az", 120, "uint8"),
                                                    dict(u8("b", (8, 5)), const=True), k("bs", 0.02, "float32"),
                                                    k("bz", 130, "uint8"), k("ys", 0.3, "float32"), k("yz", 90, "uint8")]),
        op("QLinearConv_uint8", "QLinearConv", [u8("x", (1, 3, 6, 6)), k("xs", 0.05, "float32"), k("xz", 128, "uint8"),
                                                dict(u8("w", (4, 3, 3, 3)), const=True),
                                                k("ws", [0.01, 0.02, 0.03, 0.04], "float32"),
                                                k("wz", [120, 125, 130, 135], "uint8"), k("ys", 0.4, "float32"),
                                                k("yz", 100, "uint8"), k("bias", [10, -20, 30, 0], "int32")],
           {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ]


def einsum_cases():
    """Einsum: transposes, sums, diagonals, batched and chained contractions, ellipsis broadcasting."""
    eq = lambda name, equation, *shapes: op(f"Einsum_{name}", "Einsum",
                                            [x(f"x{i}", s) for i, s in enumerate(shapes)], {"equation": equation})
    return [
        eq("transpose", "ij->ji", (3, 4)), eq("row_sum", "ij->i", (3, 4)),
        eq("batch_diagonal", "...ii->...i", (3, 5, 5)), eq("trace", "ii", (4, 4)),
        eq("inner", "i,i", (5,), (5,)), eq("outer", "i,j->ij", (3,), (4,)),
        eq("attention_scores", "bhqd,bhkd->bhqk", (2, 3, 4, 8), (2, 3, 5, 8)),
        eq("chain", "ij,jk,kl->il", (2, 3), (3, 4), (4, 5)),
        eq("bilinear", "bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),
        eq("ellipsis_broadcast", "...ij,...jk", (2, 3, 4), (1, 4, 6)),
        eq("hadamard", "ij,ij->ij", (3, 4), (3, 4)),
    ]


CASES = (elementwise_cases() + matmul_cases() + conv_cases() + pool_cases() + reduce_cases() + resize_cases()
         + tensor_cases() + multi_output_cases() + bitwise_layout_norm_cases() + control_flow_cases()
         + recurrent_cases() + topk_cases() + scatter_cases() + function_cases() + dtype_cases() + einsum_cases())

# Cases run again with two threads; their outputs must equal the single-threaded ones exactly.
THREADS_CASES = ["Gelu_erf_wide", "Elementwise_large_odd", "MatMul_64x128x96", "Add_broadcast_2x3x5_3x1", "MatMul_33x64x17_const_b", "MatMul_batch_broadcast_both",
                 "Gemm_transB_bias_row", "Conv_7x7_s2_p3", "Conv_groups2", "MaxPool_k3_s2_p1", "AveragePool_pads_include",
                 "ReduceSum_middle_drop", "Softmax_middle", "LayerNormalization_last_bias", "Gather_runtime_indices",
                 "CumSum_exclusive_reverse", "Concat_three_negative_axis", "Transpose_perm_201"]
THREADS_CASES += ["MaxPool_k3_s2_p1_wide", "AveragePool_k3_s1_wide_include_pad", "Conv_patches_k4_s4_batch2"]

# Ops of webjit.ops.OPS that only ever run at compile time (on constants), so no case runs them alone.
FOLD_ONLY_OPS = ["Constant", "Shape", "Size", "Range", "ConstantOfShape"]
# Ops onnxruntime does not run, tested against onnx's reference evaluator in tests/test_optimizers.py.
REFERENCE_ONLY_OPS = ["Adagrad", "Adam", "Momentum"]
