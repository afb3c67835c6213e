"""The schedule stage and the family records of both backends, without a browser: space sizes
per signature, pruning that names the constraint it applies, resolution that merges configs
generating the same code, every surviving config computing the right numbers on both
backends, the signature pinned as text, and the choice of defaults and database variants."""
import dataclasses
from dataclasses import replace

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.family import describe
from webjit.kernels import (Access, Arg, Elementwise, Expr, Gather, LayerNorm, Reduce, Softmax, schedule_key,
                            signature, spec_from_json, spec_to_json)
from webjit.schedule import ANY_DEVICE, Kernel, choose, choose_schedules, schedule_text
from webjit.schedule_db import Record, ScheduleDB
from webjit.targets import Targets, WasmTarget, WebgpuTarget
from webjit.wasm.codegen import FAMILIES as WASM, wasm_kernel
from webjit.webgpu.codegen import FAMILIES as WEBGPU, wgsl_kernel
from webjit.webgpu.kernel import Limits
from kernel_cases import (CONV_GEMMS, acc, contiguous, conv_gemm, fnode as node, in_place_spec, inp, make_spec,
                          matmul_inputs as inputs, matmul_want)
from wasm_harness import run_wasm
import webgpu_harness
from numerics import assert_close

RELAXED = WasmTarget(relaxed_simd=True, threads=2)
LOW = WebgpuTarget(Limits(max_invocations=64, max_workgroup_storage=4096))


MATMULS = {
    "bert-qkv": make_spec((), 128, 768, 768),
    "bert-ffn": make_spec((), 128, 3072, 768),
    "attention": make_spec((12,), 128, 128, 64),
    "matvec": make_spec((), 1, 768, 768),
    "small": make_spec((), 7, 13, 5),
    "in-place": in_place_spec(),
}


def elementwise(shape, expr=None):
    n = int(np.prod(shape))
    access = Access(0, contiguous(shape))
    return Elementwise(shape, Access(1, contiguous(shape)), (access,), expr or Expr("relu", "f32", (inp(0),)),
                       (Arg("f32", n), Arg("f32", n, True)))


ROWS = {
    "softmax-attention": Softmax(1536, 128, False, (Arg("f32", 1536 * 128), Arg("f32", 1536 * 128, True))),
    "layernorm-bert": LayerNorm(128, 768, 1e-12, True, (Arg("f32", 128 * 768), Arg("f32", 768), Arg("f32", 768),
                                                         Arg("f32", 128 * 768, True))),
    "reduce-short": Reduce("sum", 10, 3, (Arg("f32", 30), Arg("f32", 10, True))),
}
OTHERS = {
    "elementwise-wide": elementwise((128, 768)),
    "elementwise-small": elementwise((3, 5)),
    "gather": Gather(1, 30522, 768, 128, (Arg("f32", 30522 * 768), Arg("i32", 128), Arg("f32", 128 * 768, True))),
}
SPECS = {**MATMULS, **ROWS, **OTHERS}
TARGETS = {"wasm": [WasmTarget(), RELAXED], "webgpu": [WebgpuTarget(), LOW]}


def family(backend, spec):
    return (WASM if backend == "wasm" else WEBGPU)[spec.family]


def cases():
    for backend, targets in TARGETS.items():
        for t, target in enumerate(targets):
            for name, spec in SPECS.items():
                yield pytest.param(backend, target, spec, id=f"{backend}{t}-{name}")


@pytest.mark.parametrize("backend,target,spec", cases())
def test_every_pruned_config_breaks_a_stated_constraint(backend, target, spec):
    fam = family(backend, spec)
    names = {c.name for c in fam.constraints}
    survivors = fam.candidates(spec, target)
    for config in fam.space:
        resolved = fam.resolve(config, spec, target)
        broken = fam.violated(resolved, spec, target)
        if resolved in survivors:
            assert not broken or all(n in names for n in broken)  # kept when nothing fits at all
        else:
            assert broken and set(broken) <= names, f"{describe(config)} was pruned without a reason"


@pytest.mark.parametrize("backend,target,spec", cases())
def test_spaces_are_dozens_not_hundreds(backend, target, spec):
    fam = family(backend, spec)
    survivors = fam.candidates(spec, target)
    assert 1 <= len(survivors) <= 80
    if len(fam.space) > 1 and spec.family != "gather" and backend == "wasm" and spec.family == "matmul" \
            and spec.m >= 4:
        assert len(survivors) >= 10, [describe(c) for c in survivors]  # a real choice on real shapes
    costs = [fam.cost(c, spec, target) for c in survivors]
    assert costs == sorted(costs)  # cheapest estimate first: what a short budget measures
    assert fam.default_config(spec, target) in survivors or len(survivors) == 1 or \
        not fam.violated(fam.default_config(spec, target), spec, target, hard_only=True)


def test_every_constraint_prunes_something():
    """No pruning rule is dead: each rejects some resolved config of its space on the specs
    here (hard rules are device limits: they bite on weaker devices, tested per family)."""
    for backend, table in (("wasm", WASM), ("webgpu", WEBGPU)):
        for fam in table.values():
            specs = [s for s in SPECS.values() if s.family == fam.name]
            for constraint in fam.constraints:
                if constraint.hard:
                    continue
                rejected = [(s, c) for s in specs for t in TARGETS[backend] for c in fam.space
                            if not constraint.holds(fam.resolve(c, s, t), s, t)]
                assert rejected, f"{backend} {fam.name}: {constraint.name!r} never prunes"


def test_wasm_matmul_pruning_follows_the_register_and_shape_model():
    fam = WASM["matmul"]
    big = fam.candidates(MATMULS["bert-ffn"], RELAXED)
    assert all(c.mr * c.nr // 4 + c.nr // 4 + 1 <= 15 for c in big)
    assert any(c.fma for c in big) and not any(c.fma for c in fam.candidates(MATMULS["bert-ffn"], WasmTarget()))
    assert all(c.mr == 1 for c in fam.candidates(MATMULS["matvec"], RELAXED))  # m = 1: one-row tiles
    assert all(c.kc == 10 for c in fam.candidates(MATMULS["in-place"], RELAXED))  # never k-blocked
    # The threads of the target shape the n-split of a matrix-vector product.
    assert fam.resolve(fam.default(MATMULS["matvec"], WasmTarget(threads=4)), MATMULS["matvec"],
                       WasmTarget(threads=4)).nb < 768


@pytest.mark.parametrize("backend,target,spec", cases())
def test_distinct_configs_generate_distinct_code(backend, target, spec):
    fam = family(backend, spec)
    survivors = fam.candidates(spec, target)
    if backend == "wasm":
        codes = [wasm_kernel(spec, c, target).code for c in survivors]
    else:
        codes = [wgsl_kernel(spec, c, target).source for c in survivors]
    assert len(set(codes)) == len(codes), "two candidates generate the same code: resolve should merge them"


def test_unresolved_configs_are_refused():
    spec = MATMULS["small"]
    with pytest.raises(CompileError, match="not resolved"):
        wasm_kernel(spec, WASM["matmul"].default(spec, WasmTarget()), WasmTarget())
    from webjit.webgpu.reductions import RowConfig
    with pytest.raises(CompileError, match="not resolved"):
        wgsl_kernel(ROWS["reduce-short"], RowConfig(256), WebgpuTarget())  # r = 3 runs 4 invocations


# ---- every surviving config computes the right numbers ------------------------------------

def plain(spec):
    arrays = inputs(spec)
    return spec, arrays, matmul_want(spec, arrays)


NUMERIC_MATMULS = {"blocked": plain(make_spec((), 9, 1100, 300)), "edges": plain(make_spec((), 37, 70, 33)),
                   "matvec": plain(make_spec((), 1, 300, 70)), "in-place": plain(in_place_spec(5, 22, 18)),
                   "batched": plain(make_spec((3,), 6, 20, 8, a_strides=(0, 8, 1))),
                   # a convolution: explicit candidates read the columns, implicit ones the image
                   "conv": conv_gemm(*CONV_GEMMS["conv_gemm_grouped_strided"])}


def close(got, want):
    assert_close(np.asarray(got).reshape(want.shape), want, 1e-5)


@pytest.mark.parametrize("name", NUMERIC_MATMULS)
def test_every_wasm_matmul_candidate_is_correct(name):
    spec, arrays, want = NUMERIC_MATMULS[name]
    survivors = WASM["matmul"].candidates(spec, RELAXED)
    assert len(survivors) >= 3
    assert any(c.implicit for c in survivors) == (spec.im2col is not None)
    for config in survivors:
        got = run_wasm(wasm_kernel(spec, config, RELAXED).code, arrays, [spec.out.arg], nthreads=3)[0]
        close(got, want)


def row_cases():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 77)).astype(np.float32)
    ln = LayerNorm(40, 77, 1e-5, True, (Arg("f32", x.size), Arg("f32", 77), Arg("f32", 77), Arg("f32", x.size, True)))
    scale, bias = rng.standard_normal(77).astype(np.float32), rng.standard_normal(77).astype(np.float32)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    ln_want = (x - mean) / np.sqrt(var + 1e-5) * scale + bias
    sm = Softmax(40, 77, False, (Arg("f32", x.size), Arg("f32", x.size, True)))
    e = np.exp(x - x.max(1, keepdims=True))
    red = Reduce("sum", 40, 77, (Arg("f32", x.size), Arg("f32", 40, True)))
    ew = elementwise((40, 77), Expr("mul", "f32", (inp(0), inp(0))))
    return {"layernorm": (ln, [x, scale, bias, np.zeros_like(x)], 3, ln_want),
            "softmax": (sm, [x, np.zeros_like(x)], 1, e / e.sum(1, keepdims=True)),
            "reduce": (red, [x, np.zeros(40, np.float32)], 1, x.sum(1)),
            "elementwise": (ew, [x, np.zeros_like(x)], 1, x * x)}


@pytest.mark.parametrize("name", ["layernorm", "softmax", "reduce", "elementwise"])
def test_every_wasm_row_and_elementwise_candidate_is_correct(name):
    spec, arrays, output, want = row_cases()[name]
    survivors = WASM[spec.family].candidates(spec, RELAXED)
    assert len(survivors) >= 2
    for config in survivors:
        got = run_wasm(wasm_kernel(spec, config, RELAXED).code, arrays, [output], nthreads=2)[0]
        close(got, want)


def flat_cases():
    """Gather, Im2Col and Pool specs with their numpy references (the kernel tests' cases)."""
    from kernel_cases import IM2COL_CASES, POOL_CASES, gather_inputs, gather_ref, out_size, ref_im2col, ref_pool
    from webjit.kernels import Im2Col, Pool
    n, c, h, w, kh, kw, pads, strides, dilations = IM2COL_CASES[0]
    oh = out_size(h, kh, pads[0], pads[2], strides[0], dilations[0])
    ow = out_size(w, kw, pads[1], pads[3], strides[1], dilations[1])
    x = np.random.default_rng(1).standard_normal((n, c, h, w)).astype(np.float32)
    size = n * c * kh * kw * oh * ow
    im2col = Im2Col(n, c, h, w, kh, kw, pads, strides, dilations, oh, ow,
                    (Arg("f32", x.size), Arg("f32", size, output=True)))
    kind, planes, ph, pw, k, ppads, pstrides, pdil, include, ceil = POOL_CASES[0]
    poh = out_size(ph, k[0], ppads[0], ppads[2], pstrides[0], pdil[0], ceil)
    pow_ = out_size(pw, k[1], ppads[1], ppads[3], pstrides[1], pdil[1], ceil)
    px = np.random.default_rng(2).standard_normal((planes, ph, pw)).astype(np.float32)
    pool = Pool(kind, planes, ph, pw, k[0], k[1], ppads, pstrides, pdil, poh, pow_, include,
                (Arg("f32", px.size), Arg("f32", planes * poh * pow_, output=True)))
    gather, data, indices, out = gather_inputs(2, 9, 5, 7, "f32")
    return {"im2col": (im2col, [x, np.full(size, -7, np.float32)], 1,
                       ref_im2col(x.astype(np.float64), kh, kw, pads, strides, dilations, oh, ow)),
            "pool": (pool, [px, np.full(pool.args[1].size, -7, np.float32)], 1,
                     ref_pool(px.astype(np.float64), kind, k, ppads, pstrides, pdil, poh, pow_, include)),
            "gather": (gather, [data, indices, out], 2, gather_ref(data, indices))}


@pytest.fixture(scope="module")
def webgpu_candidates():
    """(name, config, got, want) of every WebGPU candidate of the numeric cases, run in one Node."""
    runs, meta = [], []
    # Every config of the space runs on small shapes in test_webgpu_matmul; here the pruned
    # candidates of other shapes (SwiftShader builds each pipeline in about half a second).
    for target, shapes in ((WebgpuTarget(), ("matvec", "in-place", "conv")), (LOW, ("edges", "batched"))):
        for name in shapes:
            spec, arrays, want = NUMERIC_MATMULS[name]
            for config in WEBGPU["matmul"].candidates(spec, target):
                runs.append((wgsl_kernel(spec, config, target), arrays, [spec.out.arg]))
                meta.append((name, config, want))
        for name, (spec, arrays, output, want) in {**row_cases(), **flat_cases()}.items():
            for config in WEBGPU[spec.family].candidates(spec, target):
                runs.append((wgsl_kernel(spec, config, target), arrays, [output]))
                meta.append((name, config, want))
    answers = webgpu_harness.run_wgsl_many(runs)
    return [(name, config, got, want) for (name, config, want), got in zip(meta, answers)]


def test_every_webgpu_candidate_is_correct(webgpu_candidates):
    names = {name for name, *_ in webgpu_candidates}
    assert names == {"edges", "matvec", "batched", "in-place", "conv", "layernorm", "softmax", "reduce",
                     "elementwise", "im2col", "pool", "gather"}
    for name, config, got, want in webgpu_candidates:
        if isinstance(got, Exception):
            raise AssertionError(f"{name} {describe(config)}: {got}")
        try:
            close(got[0], want)
        except AssertionError as err:
            raise AssertionError(f"{name} {describe(config)}: {err}") from None


# ---- signatures and keys --------------------------------------------------------------------

def test_signature_text_is_pinned():
    """Records are keyed by this text: a refactor that changes it orphans every record, so
    it changes only with SIGNATURE_VERSION."""
    spec = make_spec((), 7, 13, 5, extras=[(0, 1)], epilogue=node("add", acc(), inp(0)))
    assert signature(spec) == (
        "v1 matmul(batch=(), m=7, n=13, k=5, a=Access(arg=0, strides=(5, 1), offset=0), "
        "bmat=Access(arg=1, strides=(13, 1), offset=0), out=Access(arg=2, strides=(13, 1), offset=0), "
        "extras=(Access(arg=3, strides=(0, 1), offset=0),), epilogue=add:f32(acc, in0); "
        "args=f32[35],f32[65],f32[91]!,f32[13])")
    assert signature(ROWS["reduce-short"]) == "v1 reduce(kind=sum, outer=10, r=3; args=f32[30],f32[10]!)"
    assert schedule_key(spec) == ("v1 matmul(batch=(), m=7, n=13, k=5, strides=5,1;13,1;13,1;0,1, epilogue=1, "
                                  "in_place=False; dtypes=f32,f32,f32,f32)")


def test_schedule_key_ignores_what_the_epilogue_computes():
    relu = make_spec((), 7, 13, 5, extras=[(0, 1)], epilogue=node("relu", node("add", acc(), inp(0))))
    add = make_spec((), 7, 13, 5, extras=[(0, 1)], epilogue=node("add", acc(), inp(0)))
    assert signature(relu) != signature(add) and schedule_key(relu) == schedule_key(add)
    assert schedule_key(make_spec((), 7, 13, 6)) != schedule_key(make_spec((), 7, 13, 5))


@pytest.mark.parametrize("name", SPECS)
def test_specs_survive_json(name):
    import json
    spec = SPECS[name]
    assert spec_from_json(json.loads(json.dumps(spec_to_json(spec)))) == spec


# ---- the stage: defaults, database variants, the dump ----------------------------------------

def record(spec, backend, device, config, time_ms=1.0, default_ms=2.0, **fields):
    fam = family(backend, spec)
    return Record(device, backend, spec.family, fields.pop("signature", signature(spec)), schedule_key(spec),
                  fam.config_to_json(config), fields.pop("target", {"threads": 2, "relaxed_simd": True}),
                  time_ms, {}, default_ms, 12, **fields)


def from_records(schedule):
    """The variants that came from database records (not the any-device accelerated form)."""
    return [v for v in schedule.variants if v.device != ANY_DEVICE]


def test_every_wasm_matmul_ships_a_relaxed_simd_form_for_any_device_that_has_it():
    for name, spec in MATMULS.items():
        schedule = choose(spec, "wasm", WasmTarget(), ScheduleDB())
        (form,) = [v for v in schedule.variants if v.device == ANY_DEVICE]
        assert form.config.fma and form.requires == ("relaxed-simd",) and form.record is None, name
        assert replace(form.config, fma=False) == schedule.default.config or form.config.mr == schedule.default.config.mr
        assert not WASM["matmul"].violated(form.config, spec, form.target, hard_only=True)
        assert not [v for v in choose(spec, "webgpu", WebgpuTarget(), ScheduleDB()).variants if v.device == ANY_DEVICE]


def test_records_become_variants_and_defaults_stay():
    spec = MATMULS["bert-qkv"]
    fast = WASM["matmul"].candidates(spec, RELAXED)[0]
    db = ScheduleDB()
    db.add(record(spec, "wasm", "wasm/test-1/2-cores/relaxed-simd", fast))
    schedule = choose(spec, "wasm", WasmTarget(), db)
    assert schedule.default.source == "default" and not schedule.default.config.fma
    (variant,) = from_records(schedule)
    assert variant.device == "wasm/test-1/2-cores/relaxed-simd" and variant.config == fast
    assert variant.match == "signature" and variant.requires == (("relaxed-simd",) if fast.fma else ())


def test_a_record_serves_the_same_shape_in_another_model_by_schedule_key():
    tuned = make_spec((), 128, 768, 768, extras=[(0, 1)], epilogue=node("add", acc(), inp(0)))
    other = make_spec((), 128, 768, 768, extras=[(0, 1)], epilogue=node("relu", node("add", acc(), inp(0))))
    config = WASM["matmul"].candidates(tuned, RELAXED)[1]
    db = ScheduleDB()
    db.add(record(tuned, "wasm", "wasm/x/2-cores/relaxed-simd", config))
    (variant,) = from_records(choose(other, "wasm", WasmTarget(), db))
    assert variant.match == "schedule key" and variant.config == config


def test_unusable_records_are_skipped_with_a_reason():
    spec = MATMULS["bert-qkv"]
    db = ScheduleDB()
    bad = record(spec, "wasm", "wasm/a/2-cores/simd", WASM["matmul"].candidates(spec, RELAXED)[0])
    db.add(dataclasses.replace(bad, config={"mr": 4, "colour": 3}))
    fma = next(c for c in WASM["matmul"].candidates(spec, RELAXED) if c.fma)
    db.add(record(spec, "wasm", "wasm/b/2-cores/simd", fma, target={"threads": 2, "relaxed_simd": False}))
    schedule = choose(spec, "wasm", WasmTarget(), db)
    assert not from_records(schedule)
    reasons = " | ".join(schedule.skipped)
    assert "no field colour" in reasons and "relaxed SIMD" in reasons


def test_webgpu_records_respect_the_bundle_limits():
    spec = MATMULS["bert-qkv"]
    big = WEBGPU["matmul"].default_config(spec, WebgpuTarget())
    db = ScheduleDB()
    db.add(record(spec, "webgpu", "webgpu/x/y/z/inv256-wgs32768",
                  dataclasses.replace(big, tk=8), target={}))
    assert choose(spec, "webgpu", WebgpuTarget(), db).variants
    low = choose(spec, "webgpu", LOW, db)
    assert not low.variants and "cannot run here" in low.skipped[0]


def test_schedule_text_names_defaults_and_variants():
    spec = MATMULS["bert-qkv"]
    db = ScheduleDB()
    db.add(record(spec, "wasm", "wasm/test-1/2-cores/relaxed-simd", WASM["matmul"].candidates(spec, RELAXED)[0]))
    kernels = [Kernel(spec, (0, 3)), Kernel(ROWS["softmax-attention"], (1,))]
    text = schedule_text(kernels, choose_schedules(kernels, ("wasm", "webgpu"), Targets(), db))
    lines = text.splitlines()
    assert lines[0].startswith("k0 matmul steps 0,3: matmul(")
    assert "  wasm: mr=4 nr=8 ku=1 nb=96 kc=64 fma=False implicit=False  [default]" in lines  # 3 KiB pitch: kc = 64
    assert any(line.startswith("  wasm on wasm/test-1/2-cores/relaxed-simd: ") and "[db by signature" in line
               for line in lines)
    assert "  webgpu: workgroup=128  [default]" in lines
    assert text == schedule_text(kernels, choose_schedules(kernels, ("wasm", "webgpu"), Targets(), db))


def test_database_round_trip_merge_and_errors(tmp_path):
    from webjit.schedule_db import ScheduleError
    spec = MATMULS["bert-qkv"]
    configs = WASM["matmul"].candidates(spec, RELAXED)
    db = ScheduleDB()
    db.add(record(spec, "wasm", "wasm/a/2-cores/simd", configs[0], time_ms=1.5))
    db.add(record(spec, "wasm", "wasm/b/4-cores/simd", configs[1]))
    paths = db.save(tmp_path / "one")
    assert sorted(p.name for p in paths) == ["wasm-a-2-cores-simd.json", "wasm-b-4-cores-simd.json"]
    other = ScheduleDB()
    other.add(record(spec, "wasm", "wasm/a/2-cores/simd", configs[2], time_ms=1.0))  # a better speedup
    other.save(tmp_path / "two")
    merged = ScheduleDB.load(tmp_path / "one", tmp_path / "two")
    assert len(merged.records) == 2
    assert merged.records[("wasm/a/2-cores/simd", "wasm", signature(spec))].time_ms == 1.0
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{not json")
    with pytest.raises(ScheduleError, match="cannot be read"):
        ScheduleDB.load(tmp_path / "bad")
