"""WAT text of an encoder `Module`, printed from the same instruction list as the binary.

The text assembles with `wat2wasm --enable-threads` (add `--enable-relaxed-simd` when a
module uses relaxed SIMD) to a module with the same behaviour. Instructions are indented
by block depth; labels are numeric depths exactly as the binary has them.
"""
from __future__ import annotations

import math
import struct

from webjit.wasm.encoder import OPS, TYPE_NAMES, Module


def module_to_wat(module: Module) -> str:
    """The whole module as WAT text."""
    shared = " shared" if module.shared_memory else ""
    lines = ["(module", f'  (import "env" "memory" (memory 1 65536{shared}))']
    labels = {f.index: f.label for f in module.funcs}
    for fn in module.funcs:
        head = f"  (func ${fn.label}"
        if fn.name is not None:
            head += f' (export "{fn.name}")'
        if fn.params:
            head += " (param " + " ".join(TYPE_NAMES[t] for t in fn.params) + ")"
        if fn.results:
            head += " (result " + " ".join(TYPE_NAMES[t] for t in fn.results) + ")"
        lines.append(head)
        if fn.locals:
            lines.append("    (local " + " ".join(TYPE_NAMES[t] for t in fn.locals) + ")")
        depth = 0
        for name, imm in fn.instrs:
            if name in ("end", "else"):
                depth -= 1
            lines.append("    " + "  " * depth + instr_text(name, imm, labels))
            if name in ("block", "loop", "if", "else"):
                depth += 1
        lines[-1] += ")"
    lines[-1] += ")"
    return "\n".join(lines) + "\n"


# wabt 1.0.32 still spells these two relaxed-SIMD instructions by their draft names.
WABT_SPELLING = {"i16x8.relaxed_dot_i8x16_i7x16_s": "i16x8.dot_i8x16_i7x16_s",
                 "i32x4.relaxed_dot_i8x16_i7x16_add_s": "i32x4.dot_i8x16_i7x16_add_s"}


def instr_text(name: str, imm: tuple, labels: dict[int, str]) -> str:
    """One instruction as WAT."""
    kind = OPS[name][2]
    name = WABT_SPELLING.get(name, name)
    if kind == "block":
        vtype = imm[0] if imm else None
        return name if vtype is None else f"{name} (result {TYPE_NAMES[vtype]})"
    if kind == "func":
        return f"call ${labels[imm[0]]}"
    if kind == "f32":
        return f"{name} {float_text(struct.unpack('<f', struct.pack('<f', imm[0]))[0], 32)}"
    if kind == "f64":
        return f"{name} {float_text(float(imm[0]), 64)}"
    if kind == "v128":
        words = struct.unpack("<4I", bytes(imm[0]))
        return f"{name} i32x4 " + " ".join(f"0x{w:08x}" for w in words)
    if kind == "mem":
        offset = imm[0] if imm else 0
        return f"{name} offset={offset}" if offset else name
    if kind == "lanemem":
        offset, lane = imm
        return f"{name} offset={offset} {lane}" if offset else f"{name} {lane}"
    return " ".join([name] + [str(int(i)) for i in imm])


def float_text(value: float, bits: int) -> str:
    """Exact WAT spelling of a float: hex for finite values, nan:0x payloads for NaNs."""
    if math.isnan(value):
        if bits == 32:
            raw = struct.unpack("<I", struct.pack("<f", value))[0]
            sign, payload = raw >> 31, raw & 0x7FFFFF
        else:
            raw = struct.unpack("<Q", struct.pack("<d", value))[0]
            sign, payload = raw >> 63, raw & 0xFFFFFFFFFFFFF
        return ("-" if sign else "") + f"nan:0x{payload:x}"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value.hex()
