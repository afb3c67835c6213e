"""WebGPU kernels compiled for a range of sizes (`--dim seq=1..N`): each family's symbolic
spec runs at several sizes, the smallest and the largest included, against numpy, with the
dispatch the runtime would evaluate for those sizes; then MiniLM (small) compiled for
seq=1..64 runs on WebGPU in Node against onnxruntime."""
from dataclasses import replace

import numpy as np
import pytest

from webjit.kernels import Access, Arg, Attention, Elementwise, Expr, Gather, LayerNorm, MatMul, Softmax
from webjit.symbolic import Dim, Sym, SymbolicError, evaluate
from webjit.webgpu.codegen import default_kernel
from webjit.webgpu.kernel import DEFAULT_LIMITS, Workgroups
from kernel_cases import inp, node
from webgpu_harness import available, run_wgsl_many

pytestmark = pytest.mark.skipif(not available(), reason="needs the npm webgpu package and SwiftShader")

MAX = 16
SEQ = Sym.of(Dim("seq", 1, MAX))
DIMS = (("seq", 1, MAX),)
SIZES = (1, 7, MAX)
rng = np.random.default_rng(7)


def symbolic(spec):
    """`spec` reading its sizes from one more arg, as lowering binds them."""
    return replace(spec, sizes=len(spec.args), dims=DIMS, args=spec.args + (Arg("i32", 1),))


def run_at_sizes(spec, make):
    """Run `spec` at each of SIZES: make(seq) -> (args without the sizes, output index, expected)."""
    kernel = default_kernel(spec)
    assert isinstance(kernel.dispatch, Workgroups)
    cases, expected = [], []
    for seq in SIZES:
        args, out, want = make(seq)
        grid = kernel.dispatch.grid({"seq": seq}, DEFAULT_LIMITS)
        cases.append((replace(kernel, dispatch=grid), args + [np.array([seq], np.int32)], [out]))
        expected.append(want)
    for seq, answer, want in zip(SIZES, run_wgsl_many(cases), expected):
        if isinstance(answer, Exception):
            raise answer
        got = answer[0].reshape(-1)[:want.size].reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"seq={seq}")
    return kernel


def planned(n: int) -> np.ndarray:
    """An arg of `n` elements (planned for the largest size), random."""
    return rng.standard_normal(n).astype(np.float32)


def test_elementwise_symbolic_shape_strides_and_offset():
    # out[s, a, b] (written after 15*seq elements) = x[b, a, s] (strides 1, seq, 3*seq) * y[a, b] + 1
    spec = symbolic(Elementwise((SEQ, 3, 5), Access(2, (15, 5, 1), 15 * SEQ),
                                (Access(0, (1, SEQ, 3 * SEQ)), Access(1, (0, 5, 1))),
                                node("add", "f32", node("mul", "f32", inp(0), inp(1)), Expr("const", "f32", value=1.0)),
                                (Arg("f32", 15 * MAX), Arg("f32", 15), Arg("f32", 30 * MAX, True))))

    def make(seq):
        x, y, out = planned(15 * MAX), planned(15), np.zeros(30 * MAX, np.float32)
        xt = x[:15 * seq].reshape(5, 3, seq).transpose(2, 1, 0)
        want = np.concatenate([np.zeros(15 * seq, np.float32), (xt * y.reshape(3, 5) + 1).reshape(-1)])
        return [x, y, out], 2, want
    source = run_at_sizes(spec, make).source
    assert "var<storage, read> a3" in source  # the sizes binding is read-only


def test_gather_symbolic_count_and_axis():
    rows = symbolic(Gather(1, 10, 4, SEQ, (Arg("f32", 40), Arg("i32", MAX), Arg("f32", 4 * MAX, True))))

    def make_rows(seq):
        data, idx = planned(40), rng.integers(-10, 10, MAX).astype(np.int32)
        want = data.reshape(10, 4)[idx[:seq] % 10]
        return [data, idx, np.zeros(4 * MAX, np.float32)], 2, want
    run_at_sizes(rows, make_rows)
    table = symbolic(Gather(2, SEQ, 3, 5, (Arg("f32", 6 * MAX), Arg("i32", 5), Arg("f32", 30, True))))

    def make_table(seq):
        data, idx = planned(6 * MAX), np.array([0, -1, seq - 1, seq, 2], np.int32)
        cube = data[:6 * seq].reshape(2, seq, 3)
        want = np.stack([cube[:, i % seq] if -seq <= i < seq else np.zeros((2, 3), np.float32) for i in idx], 1)
        return [data, idx, np.zeros(30, np.float32)], 2, want
    run_at_sizes(table, make_table)


def test_layernorm_symbolic_rows():
    spec = symbolic(LayerNorm(2 * SEQ, 32, 1e-5, True, (Arg("f32", 64 * MAX), Arg("f32", 32), Arg("f32", 32),
                                                         Arg("f32", 64 * MAX, True))))

    def make(seq):
        x, scale, bias = planned(64 * MAX), planned(32), planned(32)
        rows = x[:64 * seq].reshape(2 * seq, 32)
        mean, var = rows.mean(1, keepdims=True), rows.var(1, keepdims=True)
        want = (rows - mean) / np.sqrt(var + 1e-5) * scale + bias
        return [x, scale, bias, np.zeros(64 * MAX, np.float32)], 3, want
    run_at_sizes(spec, make)


@pytest.mark.parametrize("n", [24, 1030])
def test_matmul_symbolic_rows_with_an_epilogue(n):
    """m = 1 (SIZES' first) takes the one-row path: 1030 columns are two of its blocks of 1024,
    the last vec4 of the row partly outside it."""
    spec = symbolic(MatMul((), SEQ, n, 20, Access(0, (20, 1)), Access(1, (n, 1)), Access(2, (n, 1)),
                           (Access(3, (0, 1)),), node("add", "f32", Expr("acc", "f32"), inp(0)),
                           (Arg("f32", 20 * MAX), Arg("f32", 20 * n), Arg("f32", n * MAX, True), Arg("f32", n))))

    def make(seq):
        a, b, bias = planned(20 * MAX), planned(20 * n), planned(n)
        want = a[:20 * seq].reshape(seq, 20) @ b.reshape(20, n) + bias
        return [a, b, np.zeros(n * MAX, np.float32), bias], 2, want
    kernel = run_at_sizes(spec, make)
    assert "one_row(wg, i32(lid))" in kernel.source


def test_batched_matmul_symbolic_rows():
    """Three batch entries of [seq, 12] x [12, 8] (a per-entry bmat): the one-row path's bases."""
    spec = symbolic(MatMul((3,), SEQ, 8, 12, Access(0, (12 * MAX, 12, 1)), Access(1, (96, 8, 1)),
                           Access(2, (8 * MAX, 8, 1)), (), None,
                           (Arg("f32", 36 * MAX), Arg("f32", 288), Arg("f32", 24 * MAX, True))))

    def make(seq):
        a, b = planned(36 * MAX), planned(288)
        want = np.zeros((3, MAX, 8), np.float32)  # out planned for MAX rows per entry, the rest left 0
        for i in range(3):
            want[i, :seq] = a[i * 12 * MAX:][:12 * seq].reshape(seq, 12) @ b[i * 96:(i + 1) * 96].reshape(12, 8)
        return [a, b, np.zeros(24 * MAX, np.float32)], 2, want
    kernel = run_at_sizes(spec, make)
    assert "one_row(wg, i32(lid))" in kernel.source


def test_matmul_refuses_a_symbolic_k():
    spec = symbolic(MatMul((), 4, 24, SEQ, Access(0, (SEQ, 1)), Access(1, (24, 1)), Access(2, (24, 1)), (), None,
                           (Arg("f32", 4 * MAX), Arg("f32", 24 * MAX), Arg("f32", 96, True))))
    with pytest.raises(SymbolicError, match="other than its rows"):
        default_kernel(spec)


def test_row_kernels_refuse_rows_of_symbolic_length():
    spec = symbolic(Softmax(4, SEQ, False, (Arg("f32", 4 * MAX), Arg("f32", 4 * MAX, True))))
    with pytest.raises(SymbolicError, match="rows of symbolic length"):
        default_kernel(spec)


def test_attention_symbolic_rows_keys_and_strides():
    # two heads laid out [head, seq, 8]: the head strides are symbolic; a key mask [seq] is added
    heads, d = 2, 8
    head = Access(0, (8 * SEQ, 8, 1))
    spec = symbolic(Attention((heads,), SEQ, SEQ, d, d, 8 ** -0.5, False, head, replace(head, arg=1),
                              replace(head, arg=2), None, 0.0, Access(3, (0, 0, 1)), Access(4, (8 * SEQ, 8, 1)),
                              tuple(Arg("f32", heads * MAX * d) for _ in range(3)) + (Arg("f32", MAX),
                                                                                     Arg("f32", heads * MAX * d, True))))

    def make(seq):
        q, k, v = (planned(heads * MAX * d) for _ in range(3))
        mask = np.where(rng.random(MAX) < 0.3, -1e4, 0).astype(np.float32)
        mask[0] = 0  # some key is always kept
        view = lambda t: t[:heads * seq * d].reshape(heads, seq, d)
        s = view(q) @ view(k).transpose(0, 2, 1) * 8 ** -0.5 + mask[:seq]
        p = np.exp(s - s.max(-1, keepdims=True))
        want = (p / p.sum(-1, keepdims=True)) @ view(v)
        return [q, k, v, mask, np.zeros(heads * MAX * d, np.float32)], 4, want
    run_at_sizes(spec, make)


def test_dispatch_is_data_the_runtime_evaluates():
    spec = symbolic(LayerNorm(2 * SEQ, 32, 1e-5, False, (Arg("f32", 64 * MAX), Arg("f32", 64 * MAX, True)),
                              has_scale=False))
    dispatch = default_kernel(spec).dispatch
    assert dispatch.to_json() == {"groups": {"sym": [[2, ["seq"]]]}, "per": 1, "times": 1}
    assert [dispatch.grid({"seq": s}, DEFAULT_LIMITS) for s in (1, MAX)] == [(2, 1, 1), (2 * MAX, 1, 1)]
    assert evaluate(2 * SEQ, {"seq": 3}) == 6


@pytest.fixture(scope="module")
def minilm_bundle(tmp_path_factory):
    """MiniLM (small) compiled once for every seq in 1..64, for both backends (the default)."""
    from webjit.cli import main
    from webjit.models import export_model
    model = export_model("minilm", size="small")
    bundle = tmp_path_factory.mktemp("minilm-seq64") / "bundle"
    assert main(["compile", str(model), "--dim", "batch=1", "--dim", "seq=1..64", "-o", str(bundle), "-q"]) == 0
    return model, bundle


@pytest.mark.parametrize("seq", [1, 7, 64])
def test_minilm_for_seq_1_to_64_on_webgpu(minilm_bundle, seq, capsys):
    from webjit.cli import main
    model, bundle = minilm_bundle
    status = main(["run", str(bundle), "--backend", "webgpu", "--browser", "node", "--dim", f"seq={seq}",
                   "--check", str(model)])
    printed = capsys.readouterr().out
    assert status == 0 and "check passed" in printed and "node webgpu" in printed, printed
    assert f"[1, {seq}, 384]" in printed


def test_gpt2_with_a_kv_cache_on_webgpu(tmp_path, capsys):
    """A decoder whose sizes are also read as values (positions after the past) and whose
    total length is a sum of dimensions: the kernels' read-only sizes and the arena's copy."""
    from webjit.cli import main
    from webjit.models import export_model
    model, bundle = export_model("gpt2-past", size="small"), tmp_path / "bundle"
    assert main(["compile", str(model), "--dim", "batch=1", "--dim", "sequence=1..16", "--dim", "past_sequence=0..15",
                 "--dim", "total_sequence=past_sequence+sequence", "-o", str(bundle), "-q"]) == 0
    capsys.readouterr()
    assert main(["run", str(bundle), "--backend", "webgpu", "--browser", "node", "--dim", "past_sequence=5",
                 "--dim", "sequence=7", "--check", str(model)]) == 0
    printed = capsys.readouterr().out
    assert "check passed" in printed and "node webgpu" in printed, printed
