"""Lowering and planning started from a Graph built in the test (no ONNX): layout ops become
views, elementwise chains fuse into the MatMul epilogue, and buffers are reused."""
from __future__ import annotations

import numpy as np

from webjit import kernels as K
from webjit.ir import Graph, Node, TensorType
from webjit.lower import lower
from webjit.plan import plan_buffers


def graph(nodes, types, constants, inputs=("x",), outputs=("y",)):
    g = Graph(list(inputs), list(outputs), nodes, {k: TensorType(*v) for k, v in types.items()}, constants)
    g.verify()
    return g


def test_transpose_is_a_view_and_bias_relu_fuse_into_the_matmul():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    b = np.ones(3, np.float32)
    g = graph(
        [Node("Transpose", "t", ("x",), ("xt",), {"perm": [1, 0]}),
         Node("MatMul", "mm", ("xt", "w"), ("h",)),
         Node("Add", "add", ("h", "b"), ("hb",)),
         Node("Relu", "relu", ("hb",), ("y",))],
        {"x": ("float32", (4, 2)), "xt": ("float32", (2, 4)), "w": ("float32", (4, 3)), "b": ("float32", (3,)),
         "h": ("float32", (2, 3)), "hb": ("float32", (2, 3)), "y": ("float32", (2, 3))},
        {"w": w, "b": b})
    program = lower(g)
    assert [step.spec.family for step in program.steps] == ["matmul"]
    spec = program.steps[0].spec
    assert (spec.m, spec.n, spec.k) == (2, 3, 4)
    assert spec.a.strides == (1, 2)  # the transpose is read in place: a[m, k] = x[k, m]
    assert spec.bmat.strides == (3, 1)
    assert str(spec.epilogue) == "relu:f32(add:f32(acc, in0))"
    assert spec.extras == (K.Access(2, (0, 1), 0),)  # the bias broadcast over rows
    assert program.steps[0].name == "mm+relu"


def test_reshape_and_slice_cost_nothing_and_dead_buffers_are_reused():
    g = graph(
        [Node("Exp", "e1", ("x",), ("a",)),
         Node("Reshape", "r", ("a", "shape"), ("ar",)),
         Node("Neg", "n", ("ar",), ("b",)),
         Node("Slice", "s", ("b", "starts", "ends", "axes"), ("bs",)),
         Node("Sqrt", "q", ("bs",), ("c",)),
         Node("Abs", "y", ("c",), ("y",))],
        {"x": ("float32", (4, 6)), "a": ("float32", (4, 6)), "shape": ("int64", (2,)), "ar": ("float32", (6, 4)),
         "b": ("float32", (6, 4)), "starts": ("int64", (1,)), "ends": ("int64", (1,)), "axes": ("int64", (1,)),
         "bs": ("float32", (6, 2)), "c": ("float32", (6, 2)), "y": ("float32", (6, 2))},
        {"shape": np.array([6, 4]), "starts": np.array([1]), "ends": np.array([3]), "axes": np.array([1])})
    program = lower(g)
    # Exp, then Neg (reading a reshaped view), then Sqrt+Abs fused (reading a slice view).
    assert [step.spec.family for step in program.steps] == ["elementwise"] * 3
    last = program.steps[-1].spec
    assert last.inputs[0].strides == (4, 1) and last.inputs[0].offset == 1
    assert str(last.expr) == "abs:f32(sqrt:f32(in0))"
    plan = plan_buffers(program)
    # x and Exp's output die once read; Sqrt+Abs's output can take Exp's place.
    assert plan.arena_bytes < plan.naive_bytes
