"""The WASM encoder: LEB128, opcode numbers (checked against wabt), validation, Node runs, WAT."""
import math
import random
import struct
import subprocess

import numpy as np
import pytest

from webjit.wasm.encoder import (F32, F64, I32, OPS, V128, EncodeError, Module, encode_instr,
                                 f32x4_const, i32x4_const, sleb, uleb)
from wasm_harness import run_wasm, run_wasm_exports


def validate(wasm: bytes, tmp_path, name="m.wasm") -> None:
    path = tmp_path / name
    path.write_bytes(wasm)
    proc = subprocess.run(["wasm-validate", "--enable-threads", "--enable-relaxed-simd", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def wat2wasm(text: str, tmp_path) -> bytes:
    (tmp_path / "m.wat").write_text(text)
    proc = subprocess.run(["wat2wasm", "--enable-threads", str(tmp_path / "m.wat"),
                           "-o", str(tmp_path / "rt.wasm")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return (tmp_path / "rt.wasm").read_bytes()


def read_uleb(data: bytes) -> int:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value
    raise ValueError("truncated")


def read_sleb(data: bytes) -> int:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value - (1 << shift) if byte & 0x40 else value
    raise ValueError("truncated")


# ---------------------------------------------------------------- LEB128
@pytest.mark.parametrize("value, encoded", [
    (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (255, "ff01"), (16383, "ff7f"),
    (16384, "808001"), (624485, "e58e26"), (2**32 - 1, "ffffffff0f"), (0x105, "8502")])
def test_uleb(value, encoded):
    assert uleb(value).hex() == encoded


@pytest.mark.parametrize("value, encoded", [
    (0, "00"), (1, "01"), (-1, "7f"), (63, "3f"), (64, "c000"), (-64, "40"), (-65, "bf7f"),
    (127, "ff00"), (-128, "807f"), (-123456, "c0bb78"), (2**31 - 1, "ffffffff07"),
    (-2**31, "8080808078"), (2**63 - 1, "ffffffffffffffffff00"), (-2**63, "8080808080808080807f")])
def test_sleb(value, encoded):
    assert sleb(value).hex() == encoded


def test_leb_round_trip_random():
    rng = random.Random(1)
    for _ in range(2000):
        bits = rng.randrange(1, 65)
        u, s = rng.getrandbits(bits), rng.getrandbits(bits) - (1 << (bits - 1))
        assert read_uleb(uleb(u)) == u
        assert read_sleb(sleb(s)) == s


def test_uleb_rejects_negative():
    with pytest.raises(EncodeError):
        uleb(-1)


# ---------------------------------------------------------------- opcode table vs wabt
def test_every_opcode_matches_wabt(tmp_path):
    """Encode every mnemonic once; wasm2wat must read back the same mnemonics in order."""
    dummy = {"none": (), "block": (), "mem": (8,), "lanemem": (4, 1), "lane": (1,),
             "shuffle": tuple(range(16)), "br_table": (0, 1), "memidx": (), "memcopy": (),
             "depth": (0,), "func": (0,), "local": (0,), "i32": (-5,), "i64": (7,),
             "f32": (1.5,), "f64": (2.5,), "v128": (bytes(16),)}
    module = Module()
    fn = module.func("run", [I32])
    expected = []
    for name, (_, _, kind, _) in OPS.items():
        if name in ("end", "else"):
            continue
        fn.op(name, *dummy[kind])
        expected.append(name)
        if kind == "block":  # wasm2wat drops an empty else, so give it a nop
            extra = ["else", "nop", "end"] if name == "if" else ["end"]
            for e in extra:
                fn.op(e)
            expected += extra
    path = tmp_path / "all.wasm"
    path.write_bytes(module.encode())
    proc = subprocess.run(["wasm2wat", "--no-check", "--enable-all", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    body = proc.stdout.split("(type 0) (param i32)\n", 1)[1]
    got = [line.split()[0].rstrip(")") for line in body.splitlines()
           if line.strip() and not line.strip().startswith("(")]
    wabt_names = {"i16x8.relaxed_dot_i8x16_i7x16_s": "i16x8.dot_i8x16_i7x16_s",
                  "i32x4.relaxed_dot_i8x16_i7x16_add_s": "i32x4.dot_i8x16_i7x16_add_s"}
    assert got == [wabt_names.get(n, n) for n in expected]


SIMD_USED = ("v128.and v128.or v128.xor v128.not v128.andnot v128.bitselect v128.any_true "
             "f32x4.splat f32x4.pmin f32x4.pmax f32x4.nearest f32x4.demote_f64x2_zero "
             "i32x4.trunc_sat_f32x4_s i32x4.all_true i32x4.bitmask i8x16.swizzle "
             "v128.load32_splat v128.load32_zero v128.load64_zero v128.load32_lane "
             "v128.store32_lane f32x4.relaxed_madd").split()


def test_simd_instructions_encode_as_wabt_encodes_them(tmp_path):
    """The kernels' SIMD instructions, encoded by webjit and by wabt's wat2wasm (an
    independent encoder) from the same text: the bytes must agree."""
    lanes = {"v128.load32_lane": (0, 3), "v128.store32_lane": (4, 1)}  # (offset, lane)
    for name in SIMD_USED:
        imm = lanes.get(name, (16,) if "load" in name else ())
        text = f"{name} offset={imm[0]} {imm[1]}" if name in lanes else (
            f"{name} offset={imm[0]}" if imm else name)
        wat = f"(module (memory 1) (func {text}))"
        (tmp_path / "one.wat").write_text(wat)
        proc = subprocess.run(["wat2wasm", "--no-check", "--enable-all", str(tmp_path / "one.wat"),
                               "-o", str(tmp_path / "one.wasm")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        theirs = (tmp_path / "one.wasm").read_bytes()
        ours = encode_instr(name, imm)
        # The code section ends with the body: [locals 0] instruction [end 0x0b].
        assert theirs.endswith(bytes([0]) + ours + b"\x0b"), (name, ours.hex(), theirs.hex())


# ---------------------------------------------------------------- module structure
def test_memory_import_flags():
    shared = Module().encode()
    plain = Module(shared_memory=False).encode()
    limits = lambda flag: b"\x02" + bytes([flag]) + b"\x01" + uleb(65536)
    assert b"\x03env\x06memory" + limits(0x03) in shared
    assert b"\x03env\x06memory" + limits(0x01) in plain


def test_identical_func_types_are_shared(tmp_path):
    module = Module()
    for name in ("a", "b", "c"):
        fn = module.func(name, [I32, F32], [F32])
        fn.op("local.get", 1)
    module.func("d", [V128])
    wasm = module.encode()
    validate(wasm, tmp_path)
    assert wasm[8] == 1  # type section comes first
    assert wasm[10] == 2  # two distinct types


def test_errors_name_the_problem():
    fn = Module().func("run", [I32])
    with pytest.raises(EncodeError, match="f32x4.frobnicate"):
        fn.op("f32x4.frobnicate")
    with pytest.raises(EncodeError, match="i32.const"):
        fn.op("i32.const")
    with pytest.raises(EncodeError, match="i32.const"):
        fn.op("i32.const", 2**32)
    with pytest.raises(EncodeError, match="lane"):
        fn.op("f32x4.extract_lane", 4)
    with pytest.raises(EncodeError, match="16 bytes"):
        fn.op("v128.const", b"\x00" * 15)
    with pytest.raises(EncodeError, match="end"):
        fn.op("end")
    fn.op("block")
    with pytest.raises(EncodeError, match="unclosed"):
        fn.body()


# ---------------------------------------------------------------- running in Node
def build_scaled_add(shared: bool = True) -> Module:
    """run(a, b, out, n_ptr, tid, nthreads): out = (a + b) * 1.5 over this thread's 4-lane chunks."""
    module = Module(shared_memory=shared)
    fn = module.func("run", [I32] * 6)
    a, b, out, n_ptr, tid, nthreads = range(6)
    i, addr = fn.local(I32), fn.local(I32)
    fn.op("local.get", tid)
    fn.op("local.set", i)
    fn.op("block")
    fn.op("loop")
    fn.op("local.get", i)
    fn.op("local.get", n_ptr)
    fn.op("i32.load")
    fn.op("i32.const", 2)
    fn.op("i32.shr_u")
    fn.op("i32.ge_u")
    fn.op("br_if", 1)
    fn.op("local.get", i)
    fn.op("i32.const", 4)
    fn.op("i32.shl")
    fn.op("local.set", addr)
    for ptr in (out, a, b):
        fn.op("local.get", ptr)
        fn.op("local.get", addr)
        fn.op("i32.add")
        if ptr != out:
            fn.op("v128.load")
    fn.op("f32x4.add")
    fn.op("v128.const", f32x4_const(1.5))
    fn.op("f32x4.mul")
    fn.op("v128.store")
    fn.op("local.get", i)
    fn.op("local.get", nthreads)
    fn.op("i32.add")
    fn.op("local.set", i)
    fn.op("br", 0)
    fn.op("end")
    fn.op("end")
    return module


@pytest.mark.parametrize("nthreads", [1, 3])
def test_simd_add_kernel_in_node(tmp_path, nthreads):
    wasm = build_scaled_add().encode()
    validate(wasm, tmp_path)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 64)).astype(np.float32)
    out, = run_wasm(wasm, [a, b, np.zeros(64, np.float32), np.array([64], np.int32)], [2],
                    nthreads=nthreads)
    np.testing.assert_array_equal(out, (a + b) * np.float32(1.5))


def test_unshared_memory_module_runs(tmp_path):
    wasm = build_scaled_add(shared=False).encode()
    validate(wasm, tmp_path)
    a = np.arange(8, dtype=np.float32)
    out, = run_wasm(wasm, [a, a, np.zeros(8, np.float32), np.array([8], np.int32)], [2])
    np.testing.assert_array_equal(out, a * 3)


def test_trap_raises_runtime_error():
    module = Module()
    module.func("run", [I32, I32]).op("unreachable")
    with pytest.raises(RuntimeError, match="unreachable"):
        run_wasm(module.encode(), [], [])


@pytest.mark.parametrize("value", [0, 1, -1, 63, 64, -64, -65, 2**31 - 1, -2**31, 0xFFFFFFFF])
def test_i32_const_in_node(value):
    module = Module()
    module.func("get", [], [I32]).op("i32.const", value)
    expected = value - 2**32 if value >= 2**31 else value
    assert run_wasm_exports(module.encode(), "get") == [expected]


@pytest.mark.parametrize("value", [0, -1, 2**40 + 3, -2**52 - 5, 2**53])
def test_i64_const_in_node(value):
    module = Module()
    fn = module.func("get", [], [F64])
    fn.op("i64.const", value)
    fn.op("f64.convert_i64_s")
    assert run_wasm_exports(module.encode(), "get") == [float(value)]


def test_lane_and_shuffle_ops_in_node(tmp_path):
    """Lane loads/stores, extract/replace and shuffle land on the lanes they name."""
    module = Module()
    fn = module.func("run", [I32, I32, I32, I32])
    x, out = 0, 1
    v = fn.local(V128)
    fn.op("local.get", x)
    fn.op("v128.const", i32x4_const([10, 20, 30, 40]))
    fn.op("v128.load32_lane", 8, 1)  # lane 1 = x[2]
    fn.op("local.set", v)
    fn.op("local.get", out)
    fn.op("local.get", v)
    fn.op("local.get", v)
    fn.op("i8x16.shuffle", *[b for lane in (3, 2, 1, 0) for b in range(4 * lane, 4 * lane + 4)])
    fn.op("v128.store")  # out[0:4] = reversed v
    fn.op("local.get", out)
    fn.op("local.get", v)
    fn.op("v128.store32_lane", 16, 3)  # out[4] = v[3]
    fn.op("local.get", out)
    fn.op("local.get", v)
    fn.op("i32x4.extract_lane", 1)
    fn.op("i32.const", 1)
    fn.op("i32.add")
    fn.op("i32.store", 20)  # out[5] = v[1] + 1
    fn.op("local.get", out)
    fn.op("local.get", v)
    fn.op("i32.const", 7)
    fn.op("i32x4.replace_lane", 0)
    fn.op("v128.store", 24)  # out[6:10] = (7, v1, v2, v3)
    wasm = module.encode()
    validate(wasm, tmp_path)
    x = np.array([1, 2, 3, 4], np.int32)
    got, = run_wasm(wasm, [x, np.zeros(10, np.int32)], [1])
    assert got.tolist() == [40, 30, 3, 10, 40, 4, 7, 3, 30, 40]


# ---------------------------------------------------------------- WAT round trip
def build_wat_probe() -> Module:
    """Touches every immediate kind the printer spells: floats, v128, lanes, blocks, calls."""
    module = Module()
    helper = module.func(None, [F32], [F32], label="twice")
    helper.op("local.get", 0)
    helper.op("local.get", 0)
    helper.op("f32.add")
    fn = module.func("run", [I32, I32, I32])
    out = 0
    specials = [float("inf"), -float("inf"), float("nan"), -0.0, 1e-45, 3.4028234663852886e38,
                0.1, -2.5]
    for k, value in enumerate(specials):
        fn.op("local.get", out)
        fn.op("f32.const", value)
        fn.op("f32.store", 4 * k)
    fn.op("local.get", out)
    fn.op("f64.const", 0.1)
    fn.op("f32.demote_f64")
    fn.op("call", helper.index)
    fn.op("f32.store", 32)
    fn.op("local.get", out)
    fn.op("v128.const", f32x4_const([1.0, -2.0, 0.5, 3.0]))
    fn.op("v128.const", i32x4_const(0x80000000))
    fn.op("v128.xor")
    fn.op("v128.store", 48)
    fn.op("local.get", out)
    fn.op("local.get", out)
    fn.op("v128.load32_splat", 28)
    fn.op("f32x4.extract_lane", 2)
    fn.op("f32.store", 36)
    fn.op("local.get", out)
    fn.op("local.get", out)
    fn.op("i32.load", 28)
    fn.op("i32.const", 0)
    fn.op("i32.lt_s")
    fn.op("if", I32)
    fn.op("i32.const", -7)
    fn.op("else")
    fn.op("i32.const", 9)
    fn.op("end")
    fn.op("i32.store", 40)
    fn.op("local.get", out)
    fn.op("i64.const", -(2**40))
    fn.op("i64.store", 64)
    return module


def test_wat_round_trip(tmp_path):
    module = build_wat_probe()
    wasm = module.encode()
    validate(wasm, tmp_path)
    text = module.to_wat()
    assert '(import "env" "memory" (memory 1 65536 shared))' in text
    assert '(func $run (export "run") (param i32 i32 i32)' in text
    back = wat2wasm(text, tmp_path)
    validate(back, tmp_path, "back.wasm")
    runs = [run_wasm(w, [np.zeros(20, np.int32)], [0])[0] for w in (wasm, back)]
    np.testing.assert_array_equal(runs[0], runs[1])
    floats = runs[0].view(np.float32)
    expected = np.array([np.inf, -np.inf, np.nan, -0.0, 1e-45, 3.4028234663852886e38, 0.1, -2.5,
                         2 * np.float32(0.1), -2.5], np.float32)
    np.testing.assert_array_equal(floats[:10], expected)
    assert math.copysign(1, floats[3]) == -1
    assert runs[0][10] == -7
    assert floats[12:16].tolist() == [-1.0, 2.0, -0.5, -3.0]
    assert runs[0][16:18].view(np.int64)[0] == -(2**40)


def test_wat_of_scaled_add_round_trips(tmp_path):
    module = build_scaled_add()
    back = wat2wasm(module.to_wat(), tmp_path)
    a = np.arange(16, dtype=np.float32)
    args = [a, a, np.zeros(16, np.float32), np.array([16], np.int32)]
    for wasm in (module.encode(), back):
        np.testing.assert_array_equal(run_wasm(wasm, args, [2], nthreads=2)[0], a * 3)


def test_wat_is_indented_by_depth():
    lines = build_scaled_add().to_wat().splitlines()
    loop = next(i for i, l in enumerate(lines) if l.strip() == "loop")
    assert lines[loop].startswith("      loop")
    assert lines[loop + 1].startswith("        local.get")


def test_f32_const_bits_exact():
    fn = Module().func("run", [])
    fn.op("f32.const", 0.1)
    assert fn.code[1:] == struct.pack("<f", 0.1)
    with pytest.raises(EncodeError, match="float32 range"):
        fn.op("f32.const", 1e39)


def test_wat_round_trip_of_math_kernel(tmp_path):
    """A kernel calling every simdmath function prints to WAT that behaves identically."""
    from webjit.wasm import simdmath
    module = Module()
    fn = module.func("run", [I32, I32, I32, I32])
    x, out = 0, 1
    for k, name in enumerate(simdmath.NAMES):
        fn.op("local.get", out)
        fn.op("local.get", x)
        fn.op("v128.load")
        if name == "pow":
            fn.op("v128.const", f32x4_const(1.5))
        fn.op("call", simdmath.get(module, name))
        fn.op("v128.store", 16 * k)
    back = wat2wasm(module.to_wat(), tmp_path)
    validate(back, tmp_path, "back.wasm")
    x = np.array([0.3, -1.7, 2.5, 40.0], np.float32)
    runs = [run_wasm(w, [x, np.zeros(4 * len(simdmath.NAMES), np.float32)], [1])[0]
            for w in (module.encode(), back)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_allclose(runs[0][:4], np.exp(x), rtol=1e-6)


def test_relaxed_madd_runs_in_node(tmp_path):
    module = Module()
    fn = module.func("run", [I32, I32, I32])
    fn.op("local.get", 0)
    for value in (2.0, 3.0, 0.5):
        fn.op("v128.const", f32x4_const(value))
    fn.op("f32x4.relaxed_madd")
    fn.op("v128.store")
    wasm = module.encode()
    validate(wasm, tmp_path)
    out, = run_wasm(wasm, [np.zeros(4, np.float32)], [0])
    assert out.tolist() == [6.5] * 4


def test_labels_are_unique_and_wat_safe(tmp_path):
    module = Module()
    module.func("my kernel", [I32])
    module.func(None, [I32], label="helper")
    with pytest.raises(EncodeError, match="helper"):
        module.func(None, [I32], label="helper")
    text = module.to_wat()
    assert '(func $my_kernel (export "my kernel")' in text
    validate(wat2wasm(text, tmp_path), tmp_path, "back.wasm")
