"""A small WebAssembly module encoder: types, the env.memory import, functions, exports, code.

Code generators build a `Module`, add functions with `Module.func`, append instructions
by their WAT mnemonic with `Func.op`, and call `Module.encode()` for the binary (or
`Module.to_wat()` for the same module as text). Instructions are checked and encoded when
they are appended, so a bad mnemonic or immediate fails at the generator's own line.
Pure Python (no numpy) so it can run in the browser under Pyodide.
"""
from __future__ import annotations

import functools
import operator
import re
import struct

from webjit.errors import CompileError

I32, I64, F32, F64, V128 = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B
TYPE_NAMES = {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128"}
EMPTY_BLOCK = 0x40
MAX_PAGES = 65536


class EncodeError(CompileError, ValueError):
    """An instruction or module the encoder cannot write (bad mnemonic, immediate, nesting)."""


# ---------------------------------------------------------------- opcode tables
# Each entry: mnemonic -> (prefix or None, opcode, immediate kind, natural alignment log2).
OPS: dict[str, tuple[int | None, int, str, int]] = {}


def _add(prefix, code, names, kind="none", align=0):
    for i, name in enumerate(names.split()):
        if not name.endswith("-"):  # "-" marks an unassigned opcode
            OPS[name] = (prefix, code + i, kind, align)


_add(None, 0x00, "unreachable nop")
_add(None, 0x02, "block loop if", "block")
_add(None, 0x05, "else")
_add(None, 0x0B, "end")
_add(None, 0x0C, "br br_if", "depth")
_add(None, 0x0E, "br_table", "br_table")
_add(None, 0x0F, "return")
_add(None, 0x10, "call", "func")
_add(None, 0x1A, "drop select")
_add(None, 0x20, "local.get local.set local.tee", "local")
_add(None, 0x23, "global.get global.set", "local")
for _name, _code, _align in [
        ("i32.load", 0x28, 2), ("i64.load", 0x29, 3), ("f32.load", 0x2A, 2), ("f64.load", 0x2B, 3),
        ("i32.load8_s", 0x2C, 0), ("i32.load8_u", 0x2D, 0), ("i32.load16_s", 0x2E, 1),
        ("i32.load16_u", 0x2F, 1), ("i64.load8_s", 0x30, 0), ("i64.load8_u", 0x31, 0),
        ("i64.load16_s", 0x32, 1), ("i64.load16_u", 0x33, 1), ("i64.load32_s", 0x34, 2),
        ("i64.load32_u", 0x35, 2), ("i32.store", 0x36, 2), ("i64.store", 0x37, 3),
        ("f32.store", 0x38, 2), ("f64.store", 0x39, 3), ("i32.store8", 0x3A, 0),
        ("i32.store16", 0x3B, 1), ("i64.store8", 0x3C, 0), ("i64.store16", 0x3D, 1),
        ("i64.store32", 0x3E, 2)]:
    _add(None, _code, _name, "mem", _align)
_add(None, 0x3F, "memory.size memory.grow", "memidx")
_add(None, 0x41, "i32.const", "i32")
_add(None, 0x42, "i64.const", "i64")
_add(None, 0x43, "f32.const", "f32")
_add(None, 0x44, "f64.const", "f64")
_add(None, 0x45, "i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u "
     "i32.ge_s i32.ge_u i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s "
     "i64.le_u i64.ge_s i64.ge_u f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne "
     "f64.lt f64.gt f64.le f64.ge")
for _t, _base in (("i32", 0x67), ("i64", 0x79)):
    _add(None, _base, " ".join(f"{_t}.{o}" for o in (
        "clz ctz popcnt add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u "
        "rotl rotr").split()))
for _t, _base in (("f32", 0x8B), ("f64", 0x99)):
    _add(None, _base, " ".join(f"{_t}.{o}" for o in (
        "abs neg ceil floor trunc nearest sqrt add sub mul div min max copysign").split()))
_add(None, 0xA7, "i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u "
     "i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s "
     "i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u "
     "f32.demote_f64 f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u "
     "f64.promote_f32 i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 "
     "f64.reinterpret_i64 i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s "
     "i64.extend32_s")
_add(0xFC, 0x00, "i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s "
     "i32.trunc_sat_f64_u i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s "
     "i64.trunc_sat_f64_u")
_add(0xFC, 0x0A, "memory.copy", "memcopy")
_add(0xFC, 0x0B, "memory.fill", "memidx")

# Threads (0xFE): wait/notify and the i32 atomics a runtime barrier may need.
_add(0xFE, 0x00, "memory.atomic.notify memory.atomic.wait32", "mem", 2)
_add(0xFE, 0x02, "memory.atomic.wait64", "mem", 3)
_add(0xFE, 0x03, "atomic.fence", "memidx")
_add(0xFE, 0x10, "i32.atomic.load", "mem", 2)
_add(0xFE, 0x17, "i32.atomic.store", "mem", 2)
for _i, _rmw in enumerate("add sub and or xor xchg cmpxchg".split()):
    _add(0xFE, 0x1E + 7 * _i, f"i32.atomic.rmw.{_rmw}", "mem", 2)

# SIMD128 (0xFD, LEB u32 sub-opcode).
_add(0xFD, 0x00, "v128.load", "mem", 4)
for _i, _name in enumerate("v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u "
                           "v128.load32x2_s v128.load32x2_u".split()):
    _add(0xFD, 0x01 + _i, _name, "mem", 3)
_add(0xFD, 0x07, "v128.load8_splat", "mem", 0)
_add(0xFD, 0x08, "v128.load16_splat", "mem", 1)
_add(0xFD, 0x09, "v128.load32_splat", "mem", 2)
_add(0xFD, 0x0A, "v128.load64_splat", "mem", 3)
_add(0xFD, 0x0B, "v128.store", "mem", 4)
_add(0xFD, 0x0C, "v128.const", "v128")
_add(0xFD, 0x0D, "i8x16.shuffle", "shuffle")
_add(0xFD, 0x0E, "i8x16.swizzle i8x16.splat i16x8.splat i32x4.splat i64x2.splat f32x4.splat "
     "f64x2.splat")
_add(0xFD, 0x15, "i8x16.extract_lane_s i8x16.extract_lane_u i8x16.replace_lane "
     "i16x8.extract_lane_s i16x8.extract_lane_u i16x8.replace_lane i32x4.extract_lane "
     "i32x4.replace_lane i64x2.extract_lane i64x2.replace_lane f32x4.extract_lane "
     "f32x4.replace_lane f64x2.extract_lane f64x2.replace_lane", "lane")
for _t, _base in (("i8x16", 0x23), ("i16x8", 0x2D), ("i32x4", 0x37)):
    _add(0xFD, _base, " ".join(f"{_t}.{o}" for o in
                               "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u".split()))
for _t, _base in (("f32x4", 0x41), ("f64x2", 0x47)):
    _add(0xFD, _base, " ".join(f"{_t}.{o}" for o in "eq ne lt gt le ge".split()))
_add(0xFD, 0x4D, "v128.not v128.and v128.andnot v128.or v128.xor v128.bitselect v128.any_true")
for _i, _bits in enumerate((8, 16, 32, 64)):
    _add(0xFD, 0x54 + _i, f"v128.load{_bits}_lane", "lanemem", _i)
    _add(0xFD, 0x58 + _i, f"v128.store{_bits}_lane", "lanemem", _i)
_add(0xFD, 0x5C, "v128.load32_zero", "mem", 2)
_add(0xFD, 0x5D, "v128.load64_zero", "mem", 3)
_add(0xFD, 0x5E, "f32x4.demote_f64x2_zero f64x2.promote_low_f32x4 i8x16.abs i8x16.neg "
     "i8x16.popcnt i8x16.all_true i8x16.bitmask i8x16.narrow_i16x8_s i8x16.narrow_i16x8_u "
     "f32x4.ceil f32x4.floor f32x4.trunc f32x4.nearest i8x16.shl i8x16.shr_s i8x16.shr_u "
     "i8x16.add i8x16.add_sat_s i8x16.add_sat_u i8x16.sub i8x16.sub_sat_s i8x16.sub_sat_u "
     "f64x2.ceil f64x2.floor i8x16.min_s i8x16.min_u i8x16.max_s i8x16.max_u f64x2.trunc "
     "i8x16.avgr_u i16x8.extadd_pairwise_i8x16_s i16x8.extadd_pairwise_i8x16_u "
     "i32x4.extadd_pairwise_i16x8_s i32x4.extadd_pairwise_i16x8_u")
_add(0xFD, 0x80, "i16x8.abs i16x8.neg i16x8.q15mulr_sat_s i16x8.all_true i16x8.bitmask "
     "i16x8.narrow_i32x4_s i16x8.narrow_i32x4_u i16x8.extend_low_i8x16_s "
     "i16x8.extend_high_i8x16_s i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u i16x8.shl "
     "i16x8.shr_s i16x8.shr_u i16x8.add i16x8.add_sat_s i16x8.add_sat_u i16x8.sub "
     "i16x8.sub_sat_s i16x8.sub_sat_u f64x2.nearest i16x8.mul i16x8.min_s i16x8.min_u "
     "i16x8.max_s i16x8.max_u - i16x8.avgr_u i16x8.extmul_low_i8x16_s "
     "i16x8.extmul_high_i8x16_s i16x8.extmul_low_i8x16_u i16x8.extmul_high_i8x16_u")
_add(0xFD, 0xA0, "i32x4.abs i32x4.neg - i32x4.all_true i32x4.bitmask - - "
     "i32x4.extend_low_i16x8_s i32x4.extend_high_i16x8_s i32x4.extend_low_i16x8_u "
     "i32x4.extend_high_i16x8_u i32x4.shl i32x4.shr_s i32x4.shr_u i32x4.add - - i32x4.sub "
     "- - - i32x4.mul i32x4.min_s i32x4.min_u i32x4.max_s i32x4.max_u i32x4.dot_i16x8_s - "
     "i32x4.extmul_low_i16x8_s i32x4.extmul_high_i16x8_s i32x4.extmul_low_i16x8_u "
     "i32x4.extmul_high_i16x8_u")
_add(0xFD, 0xC0, "i64x2.abs i64x2.neg - i64x2.all_true i64x2.bitmask - - "
     "i64x2.extend_low_i32x4_s i64x2.extend_high_i32x4_s i64x2.extend_low_i32x4_u "
     "i64x2.extend_high_i32x4_u i64x2.shl i64x2.shr_s i64x2.shr_u i64x2.add - - i64x2.sub "
     "- - - i64x2.mul i64x2.eq i64x2.ne i64x2.lt_s i64x2.gt_s i64x2.le_s i64x2.ge_s "
     "i64x2.extmul_low_i32x4_s i64x2.extmul_high_i32x4_s i64x2.extmul_low_i32x4_u "
     "i64x2.extmul_high_i32x4_u")
for _t, _base in (("f32x4", 0xE0), ("f64x2", 0xEC)):
    _add(0xFD, _base, " ".join(f"{_t}.{o}" for o in
                               "abs neg - sqrt add sub mul div min max pmin pmax".split()))
_add(0xFD, 0xF8, "i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s "
     "f32x4.convert_i32x4_u i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero "
     "f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u")
# Relaxed SIMD: only behind an engine flag in Node 20; code generators opt in explicitly.
_add(0xFD, 0x100, "i8x16.relaxed_swizzle i32x4.relaxed_trunc_f32x4_s "
     "i32x4.relaxed_trunc_f32x4_u i32x4.relaxed_trunc_f64x2_s_zero "
     "i32x4.relaxed_trunc_f64x2_u_zero f32x4.relaxed_madd f32x4.relaxed_nmadd "
     "f64x2.relaxed_madd f64x2.relaxed_nmadd i8x16.relaxed_laneselect "
     "i16x8.relaxed_laneselect i32x4.relaxed_laneselect i64x2.relaxed_laneselect "
     "f32x4.relaxed_min f32x4.relaxed_max f64x2.relaxed_min f64x2.relaxed_max "
     "i16x8.relaxed_q15mulr_s i16x8.relaxed_dot_i8x16_i7x16_s "
     "i32x4.relaxed_dot_i8x16_i7x16_add_s")

LANES = {"i8x16": 16, "i16x8": 8, "i32x4": 4, "i64x2": 2, "f32x4": 4, "f64x2": 2}


# ---------------------------------------------------------------- primitive encodings
def uleb(value: int) -> bytes:
    """Unsigned LEB128."""
    if value < 0:
        raise EncodeError(f"unsigned LEB128 cannot encode the negative number {value}.")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(value: int) -> bytes:
    """Signed LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def name_bytes(text: str) -> bytes:
    raw = text.encode("utf-8")
    return uleb(len(raw)) + raw


def vector(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def wrap_signed(value: int, bits: int, what: str) -> int:
    """`value` as a signed `bits`-bit integer; unsigned spellings (0xFFFFFFFF) are accepted."""
    try:
        value = operator.index(value)
    except TypeError:
        raise EncodeError(f"{what} needs an integer immediate, got {value!r}.") from None
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise EncodeError(f"{what} immediate {value} does not fit in {bits} bits.")
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def f32_bytes(value: float) -> bytes:
    try:
        return struct.pack("<f", float(value))
    except OverflowError:
        raise EncodeError(f"f32 constant {value!r} is beyond the float32 range; "
                          "use float('inf') for infinity.") from None


def f32x4_const(x) -> bytes:
    """16 bytes of four float32 lanes: `x` splatted, or a sequence of 4 floats."""
    lanes = list(x) if hasattr(x, "__len__") else [x] * 4
    if len(lanes) != 4:
        raise EncodeError(f"f32x4_const needs one float or 4 floats, got {len(lanes)}.")
    return b"".join(f32_bytes(v) for v in lanes)


def i32x4_const(n) -> bytes:
    """16 bytes of four int32 lanes: `n` splatted, or a sequence of 4 ints (signed or unsigned)."""
    lanes = list(n) if hasattr(n, "__len__") else [n] * 4
    if len(lanes) != 4:
        raise EncodeError(f"i32x4_const needs one int or 4 ints, got {len(lanes)}.")
    return struct.pack("<4i", *(wrap_signed(v, 32, "i32x4_const") for v in lanes))


def _check_int(name: str, value, low: int, high: int, what: str) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        value = None
    if value is None or not low <= value <= high:
        raise EncodeError(f"{name} needs a {what} in [{low}, {high}], got {value!r}.")
    return value


def _block_type(name: str, imm: tuple) -> int:
    vtype = imm[0] if imm else None
    if vtype is None:
        return EMPTY_BLOCK
    if vtype not in TYPE_NAMES:
        raise EncodeError(f"{name} block type must be None or a value type, got {vtype!r}.")
    return vtype


# How many immediates each kind takes (min, max); every other kind takes exactly one.
IMMEDIATE_COUNTS = {"none": (0, 0), "block": (0, 1), "mem": (0, 1), "lanemem": (2, 2),
                    "lane": (1, 1), "shuffle": (16, 16), "br_table": (1, 1 << 30),
                    "memidx": (0, 0), "memcopy": (0, 0)}


def encode_instr(name: str, imm: tuple) -> bytes:
    """The bytes of one instruction; raises EncodeError naming the mnemonic when it is wrong."""
    spec = OPS.get(name)
    if spec is None:
        raise EncodeError(f"unknown WebAssembly instruction {name!r}.")
    prefix, code, kind, align = spec
    head = bytes([code]) if prefix is None else bytes([prefix]) + uleb(code)
    expected = IMMEDIATE_COUNTS.get(kind, (1, 1))
    if not expected[0] <= len(imm) <= expected[1]:
        raise EncodeError(f"{name} takes {expected[0]}..{expected[1]} immediates, "
                          f"got {len(imm)}: {imm!r}.")
    if kind == "none":
        return head
    if kind == "block":
        return head + bytes([_block_type(name, imm)])
    if kind in ("depth", "func", "local"):
        return head + uleb(_check_int(name, imm[0], 0, 0xFFFFFFFF, "non-negative index"))
    if kind == "br_table":
        depths = [uleb(_check_int(name, d, 0, 0xFFFFFFFF, "depth")) for d in imm]
        return head + vector(depths[:-1]) + depths[-1]
    if kind == "memidx":
        return head + b"\x00"
    if kind == "memcopy":
        return head + b"\x00\x00"
    if kind == "i32":
        return head + sleb(wrap_signed(imm[0], 32, name))
    if kind == "i64":
        return head + sleb(wrap_signed(imm[0], 64, name))
    if kind == "f32":
        return head + f32_bytes(imm[0])
    if kind == "f64":
        return head + struct.pack("<d", float(imm[0]))
    if kind == "v128":
        if not isinstance(imm[0], (bytes, bytearray)) or len(imm[0]) != 16:
            raise EncodeError(f"{name} needs 16 bytes (see f32x4_const), got {imm[0]!r}.")
        return head + bytes(imm[0])
    if kind == "mem":
        offset = imm[0] if imm else 0
        return head + uleb(align) + uleb(_check_int(name, offset, 0, 0xFFFFFFFF, "offset"))
    if kind == "lanemem":
        offset = _check_int(name, imm[0], 0, 0xFFFFFFFF, "offset")
        lane = _check_int(name, imm[1], 0, (16 >> align) - 1, "lane")
        return head + uleb(align) + uleb(offset) + bytes([lane])
    if kind == "lane":
        lanes = LANES[name.split(".")[0]]
        return head + bytes([_check_int(name, imm[0], 0, lanes - 1, "lane")])
    if kind == "shuffle":
        return head + bytes(_check_int(name, i, 0, 31, "lane") for i in imm)
    raise AssertionError(kind)


# Kernels repeat a few thousand distinct instructions (local.get 7, i32.const 16 ...) tens of
# thousands of times: encoding each once keeps the tuner's candidate generation fast.
_encoded = functools.lru_cache(maxsize=1 << 16)(encode_instr)


# ---------------------------------------------------------------- module and functions
class Func:
    """One function: params, locals and the instruction list (the final `end` is implicit)."""

    def __init__(self, index: int, name: str | None, params: list, results: list,
                 label: str | None = None):
        for vtype in list(params) + list(results):
            if vtype not in TYPE_NAMES:
                raise EncodeError(f"function {name!r} has an unknown value type {vtype!r}.")
        self.index = index
        self.name = name
        self.label = re.sub(r"[^0-9A-Za-z_.]", "_", label or name or f"f{index}")
        self.params = list(params)
        self.results = list(results)
        self.locals: list[int] = []
        self.instrs: list[tuple[str, tuple]] = []
        self.code = bytearray()
        self.depth = 0

    def local(self, vtype) -> int:
        """Allocate a new local of `vtype` and return its index."""
        if vtype not in TYPE_NAMES:
            raise EncodeError(f"function {self.label!r}: unknown local type {vtype!r}.")
        self.locals.append(vtype)
        return len(self.params) + len(self.locals) - 1

    def op(self, name: str, *imm) -> None:
        """Append one instruction by its WAT mnemonic, e.g. op("f32x4.add"), op("i32.const", 4)."""
        if name == "end" and self.depth == 0:
            raise EncodeError(f"function {self.label!r}: `end` without an open block "
                              "(the function's own end is added by encode).")
        if name == "else" and self.depth == 0:
            raise EncodeError(f"function {self.label!r}: `else` outside an `if`.")
        if all(type(x) is int or type(x) is bytes for x in imm):
            self.code += _encoded(name, imm)
        else:  # floats: 0.0 == -0.0 as keys, yet their encodings differ
            self.code += encode_instr(name, imm)
        self.instrs.append((name, imm))
        self.depth += 1 if name in ("block", "loop", "if") else -1 if name == "end" else 0

    def body(self) -> bytes:
        """The code-section entry: size, run-length locals, instructions and the final end."""
        if self.depth:
            raise EncodeError(f"function {self.label!r} has {self.depth} unclosed block(s).")
        runs: list[list[int]] = []
        for vtype in self.locals:
            if runs and runs[-1][1] == vtype:
                runs[-1][0] += 1
            else:
                runs.append([1, vtype])
        entry = vector([uleb(n) + bytes([t]) for n, t in runs]) + bytes(self.code) + b"\x0b"
        return uleb(len(entry)) + entry

    def signature(self) -> bytes:
        return (b"\x60" + vector([bytes([t]) for t in self.params])
                + vector([bytes([t]) for t in self.results]))


class Module:
    """A module importing env.memory (shared by default) and defining functions."""

    def __init__(self, shared_memory: bool = True):
        self.shared_memory = shared_memory
        self.funcs: list[Func] = []
        self.internals: dict[str, int] = {}  # helper name -> function index (see simdmath.get)

    def func(self, name: str | None, params: list, results: list = (),
             label: str | None = None) -> Func:
        """Define a function (exported as `name` unless None); its index is its creation order.

        `label` names an internal function in the WAT text and the name section."""
        if name is not None and any(f.name == name for f in self.funcs):
            raise EncodeError(f"a function is already exported as {name!r}.")
        fn = Func(len(self.funcs), name, params, results, label)
        if any(f.label == fn.label for f in self.funcs):
            raise EncodeError(f"two functions are labelled {fn.label!r}; labels name "
                              "functions in WAT and must differ.")
        self.funcs.append(fn)
        return fn

    def memory_limits(self) -> bytes:
        return bytes([0x03 if self.shared_memory else 0x01]) + uleb(1) + uleb(MAX_PAGES)

    def encode(self) -> bytes:
        """The module binary."""
        types: dict[bytes, int] = {}
        type_of = [types.setdefault(f.signature(), len(types)) for f in self.funcs]
        imports = [name_bytes("env") + name_bytes("memory") + b"\x02" + self.memory_limits()]
        exports = [name_bytes(f.name) + b"\x00" + uleb(f.index) for f in self.funcs
                   if f.name is not None]
        names = [uleb(f.index) + name_bytes(f.label) for f in self.funcs]
        name_section = name_bytes("name") + b"\x01" + _section_body(vector(names))
        return b"".join([
            b"\x00asm\x01\x00\x00\x00",
            _section(1, vector(list(types))),
            _section(2, vector(imports)),
            _section(3, vector([uleb(t) for t in type_of])),
            _section(7, vector(exports)),
            _section(10, vector([f.body() for f in self.funcs])),
            _section(0, name_section),
        ])

    def to_wat(self) -> str:
        """The same module as WAT text (assembles with `wat2wasm --enable-threads`)."""
        from webjit.wasm.wat import module_to_wat
        return module_to_wat(self)


def _section_body(payload: bytes) -> bytes:
    return uleb(len(payload)) + payload


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + _section_body(payload)
