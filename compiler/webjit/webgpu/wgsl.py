"""WGSL building blocks shared by every WebGPU kernel generator.

Generators never index a storage array directly: `declare_args` gives each arg accessor
functions `ld{i}(e)` / `st{i}(e, v)` taking the element index relative to the start of
the arg's tensor, so an arg split into several chunk bindings reads like a single one.

WGSL refuses inf and nan (and any overflow) in const-expressions, so `f32_literal` writes
those as a call of `wj_f32_bits` (see PRELUDE): a function call is never a
const-expression, so the value is made at run time. `expr.expr_functions` and
`expr.helper_functions` declare it whenever their text needs it; a generator that writes
such a literal itself adds `expr.helper_functions(["bits"])` to the same set of helpers,
so that it is declared exactly once.
"""
from __future__ import annotations

import math
import struct

from webjit.errors import CompileError
from webjit.webgpu.kernel import Binding, Limits, chunk_bindings

WGSL_TYPE = {"f32": "f32", "i32": "i32"}
I32_MIN, I32_MAX = -2**31, 2**31 - 1
FLT_MAX = 3.4028234663852886e38


def wgsl_type(dtype: str) -> str:
    if dtype not in WGSL_TYPE:
        raise CompileError(f"The WebGPU backend has no dtype {dtype!r}; use f32 or i32.")
    return WGSL_TYPE[dtype]


def declare_args(spec, limits: Limits) -> tuple[str, tuple[Binding, ...]]:
    """Binding declarations for all of spec.args plus accessors ld{i} (and st{i} for outputs)."""
    bindings = chunk_bindings(spec.args, limits, getattr(spec, "sizes", None))
    lines = []
    for slot, b in enumerate(bindings):
        access = "read_write" if b.write else "read"
        t = wgsl_type(spec.args[b.arg].dtype)
        lines.append(f"@group(0) @binding({slot}) var<storage, {access}> "
                     f"{binding_name(b, bindings)}: array<{t}>;")
    for i, arg in enumerate(spec.args):
        chunks = [b for b in bindings if b.arg == i]
        lines.append(load_function(i, wgsl_type(arg.dtype), chunks, bindings))
        if arg.output:
            lines.append(store_function(i, wgsl_type(arg.dtype), chunks, bindings))
    return "\n".join(lines) + "\n", bindings


# Values made at run time from their bits (inf, nan, subnormals, unfolded constants).
PRELUDE = """fn wj_f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }
fn wj_i32_bits(b: u32) -> i32 { return bitcast<i32>(b); }"""


def binding_name(b: Binding, bindings: tuple[Binding, ...]) -> str:
    chunks = [c for c in bindings if c.arg == b.arg]
    if len(chunks) == 1:
        return f"a{b.arg}"
    return f"a{b.arg}_{chunks.index(b)}"


def chunk_cases(chunks: list[Binding], bindings, statement) -> str:
    """`if (e < end) { statement(name, local index) }` per chunk; the last chunk unguarded."""
    if not chunks:  # a zero-size arg has no binding: nothing to read or write
        return ""
    parts = []
    for b in chunks[:-1]:
        local = f"e - {b.start}" if b.start else "e"
        parts.append(f"  if (e < {b.start + b.count}) {{ {statement(binding_name(b, bindings), local)} }}")
    last = chunks[-1]
    local = f"e - {last.start}" if last.start else "e"
    parts.append(f"  {statement(binding_name(last, bindings), local)}")
    return "\n".join(parts)


def load_function(i: int, t: str, chunks: list[Binding], bindings) -> str:
    body = chunk_cases(chunks, bindings, lambda name, local: f"return {name}[{local}];")
    if not chunks:
        body = f"  return {t}(0);"
    return f"fn ld{i}(e: i32) -> {t} {{\n{body}\n}}"


def store_function(i: int, t: str, chunks: list[Binding], bindings) -> str:
    def statement(name: str, local: str) -> str:
        return f"{name}[{local}] = v; return;"
    return f"fn st{i}(e: i32, v: {t}) {{\n{chunk_cases(chunks, bindings, statement)}\n}}"


def linear_workgroup(total_groups: int, grid: tuple[int, int, int]) -> str:
    """Statements defining `let wg: i32`, the linear workgroup id, returning when past the end.

    Needs the entry point parameters `@builtin(workgroup_id) wid: vec3<u32>` and
    `@builtin(num_workgroups) nwg: vec3<u32>`. Workgroup ids are uniform, so the early
    return keeps later barriers valid."""
    lines = ["  let wg = i32(wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y);"]
    if grid[0] * grid[1] * grid[2] != total_groups:
        lines.append(f"  if (wg >= {total_groups}) {{ return; }}")
    return "\n".join(lines) + "\n"


def symbolic_workgroup(total_groups: str) -> str:
    """linear_workgroup for a kernel with symbolic sizes: the count `total_groups` (WGSL text)
    is known only at run time, so ids past it always return."""
    return ("  let wg = i32(wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y);\n"
            f"  if (wg >= {total_groups}) {{ return; }}\n")


def f32_bits(x: float) -> int:
    try:
        return struct.unpack("<I", struct.pack("<f", float(x)))[0]
    except OverflowError:  # beyond the float32 range the value rounds to infinity
        return 0x7F800000 | (0x80000000 if x < 0 else 0)


def f32_literal(x: float) -> str:
    """An exact WGSL f32 literal for `x` rounded to float32 (inf and nan by their bits)."""
    bits = f32_bits(x)
    value = struct.unpack("<f", struct.pack("<I", bits))[0]
    if math.isinf(value) or math.isnan(value) or (value != 0 and abs(value) < 1.1754943508222875e-38):
        # Subnormal literals may be flushed by the compiler; bits keep them exact.
        return runtime_f32(x)
    text = shortest_repr(value) + "f"
    return f"({text})" if text.startswith("-") else text


def shortest_repr(value: float) -> str:
    """The shortest decimal that reads back as the same float32 (so 1e-5 stays 1e-05)."""
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if abs(float(text)) <= FLT_MAX and struct.pack("<f", float(text)) == struct.pack("<f", value):
            break  # a shorter text above FLT_MAX would be an out-of-range literal
    else:
        text = repr(value)  # the exact value (e.g. -FLT_MAX), never past the f32 range
    if "e" not in text and "." not in text and "inf" not in text:
        text += ".0"
    return text


def runtime_f32(x: float) -> str:
    """`x` as float32 computed at run time (never folded, so never a const-expression error)."""
    return f"wj_f32_bits({f32_bits(x):#010x}u)"


def runtime_i32(n) -> str:
    return f"wj_i32_bits({wrap_i32(n) & 0xFFFFFFFF:#010x}u)"


def wrap_i32(n) -> int:
    v = int(n) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def i32_literal(n) -> str:
    """A WGSL i32 literal for `n` wrapped to 32 bits (the most negative value needs a bitcast)."""
    v = wrap_i32(n)
    if v == I32_MIN:
        return "bitcast<i32>(0x80000000u)"
    return f"({v}i)" if v < 0 else f"{v}i"


def literal(x, dtype: str) -> str:
    return f32_literal(x) if dtype == "f32" else i32_literal(x)


def check_fits(spec, bindings: tuple[Binding, ...], limits: Limits, family: str) -> None:
    """CompileError when the spec's bindings or index range cannot work on a device with `limits`."""
    if len(bindings) > limits.max_storage_buffers:
        raise CompileError(f"The WebGPU {family} kernel needs {len(bindings)} storage buffers but "
                           f"the device allows {limits.max_storage_buffers}; compile for a device "
                           f"with more storage buffers or use the WASM backend.")
    for arg in spec.args:
        if arg.size > I32_MAX:
            raise CompileError(f"The WebGPU {family} kernel has an argument of {arg.size} elements, "
                               f"more than i32 indices reach; split the model's tensors.")


def workgroup_size(limits: Limits, cap: int = 256) -> int:
    """The largest power of two <= cap that fits the invocation and x-size limits."""
    bound = min(cap, limits.max_invocations, limits.max_workgroup_size[0])
    size = 1
    while size * 2 <= bound:
        size *= 2
    return size


ENTRY_PARAMS = ("@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, "
                "@builtin(local_invocation_index) lid: u32")


def entry_point(workgroup: int, body: str) -> str:
    """`main` with the builtins every generator uses (wid, nwg, lid) around `body`."""
    return (f"@compute @workgroup_size({workgroup}, 1, 1)\n"
            f"fn main({ENTRY_PARAMS}) {{\n{body}}}\n")
