"""SIMD128 code for expression trees (elementwise kernels and matmul epilogues).

`emit_expr` pushes one v128 holding 4 lanes of `expr.dtype` (f32x4 or i32x4). Leaves
"in" and "acc" come from the caller's `load_leaf`; constants are splatted here. Lane
semantics follow ONNX: comparisons and logic give i32 0/1, i32 division truncates,
i32 mod takes the sign of the divisor, f32 mod is C fmod, round is half to even.
"""
from __future__ import annotations

import math
import struct
from typing import Callable

from webjit.errors import CompileError
from webjit.kernels import Expr
from webjit.wasm import simdmath
from webjit.wasm.encoder import I32, V128, Func, Module

LoadLeaf = Callable[[Expr], None]

F32_SIMPLE_UNARY = {"neg": "f32x4.neg", "abs": "f32x4.abs", "sqrt": "f32x4.sqrt",
                    "floor": "f32x4.floor", "ceil": "f32x4.ceil", "round": "f32x4.nearest"}
I32_SIMPLE_UNARY = {"neg": "i32x4.neg", "abs": "i32x4.abs"}
# Integers are already whole: rounding them changes nothing.
I32_IDENTITY_UNARY = ("floor", "ceil", "round")
MATH_UNARY = ("exp", "log", "erf", "tanh", "sigmoid", "sin", "cos", "atan")

F32_SIMPLE_BINARY = {"add": "f32x4.add", "sub": "f32x4.sub", "mul": "f32x4.mul",
                     "div": "f32x4.div", "min": "f32x4.min", "max": "f32x4.max"}
I32_SIMPLE_BINARY = {"add": "i32x4.add", "sub": "i32x4.sub", "mul": "i32x4.mul",
                     "min": "i32x4.min_s", "max": "i32x4.max_s",
                     "and": "v128.and", "or": "v128.or", "xor": "v128.xor"}
COMPARE = {"f32": {"eq": "f32x4.eq", "lt": "f32x4.lt", "le": "f32x4.le",
                   "gt": "f32x4.gt", "ge": "f32x4.ge"},
           "i32": {"eq": "i32x4.eq", "lt": "i32x4.lt_s", "le": "i32x4.le_s",
                   "gt": "i32x4.gt_s", "ge": "i32x4.ge_s"}}

# i8x16.shuffle patterns: lanes 2,3 of the first operand moved to lanes 0,1, and
# lanes 0,1 of each operand joined into one vector.
HIGH_HALF = bytes(range(8, 16)) + bytes(range(8, 16))
JOIN_LOW_HALVES = bytes(range(0, 8)) + bytes(range(16, 24))


def splat_const(f: Func, dtype: str, value: float) -> None:
    """Push a v128 with `value` in all 4 lanes of `dtype`."""
    if dtype == "f32":
        f.op("v128.const", struct.pack("<4f", *[f32_value(value)] * 4))
    elif dtype == "i32":
        f.op("v128.const", struct.pack("<4i", *[wrap_i32(value)] * 4))
    else:
        raise CompileError(f"The WASM backend has no dtype {dtype!r}; use f32 or i32.")


def f32_value(value: float) -> float:
    """`value` as float32 would hold it: beyond the float32 range it rounds to infinity."""
    try:
        struct.pack("<f", float(value))
    except OverflowError:
        return math.copysign(math.inf, value)
    return float(value)


def wrap_i32(value: float) -> int:
    """An integer constant as a signed 32-bit value (wrapping like the device does)."""
    v = int(value) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def math_func(module: Module, name: str) -> int:
    """Index of the module's internal v128 function for `name` (added on first use)."""
    return simdmath.get(module, name)


def emit_expr(f: Func, module: Module, expr: Expr, load_leaf: LoadLeaf) -> None:
    """Push one v128 computing `expr` lane-wise; leaves "in"/"acc" come from `load_leaf`."""
    if expr.op in ("in", "acc"):
        load_leaf(expr)
    elif expr.op == "const":
        splat_const(f, expr.dtype, expr.value)
    elif expr.op == "where":
        emit_where(f, module, expr, load_leaf)
    elif len(expr.args) == 1:
        emit_unary(f, module, expr, load_leaf)
    elif len(expr.args) == 2:
        emit_binary(f, module, expr, load_leaf)
    else:
        raise CompileError(f"The expression op {expr.op!r} is not supported by the WASM backend.")


def unsupported(expr: Expr) -> CompileError:
    arg_types = ", ".join(a.dtype for a in expr.args)
    return CompileError(f"The WASM backend cannot compute {expr.op} of ({arg_types}) "
                        f"giving {expr.dtype}; cast the operands or file a bug.")


def emit_where(f: Func, module: Module, expr: Expr, load_leaf: LoadLeaf) -> None:
    cond, a, b = expr.args
    emit_expr(f, module, a, load_leaf)
    emit_expr(f, module, b, load_leaf)
    emit_expr(f, module, cond, load_leaf)
    emit_nonzero_mask(f, cond.dtype)
    f.op("v128.bitselect")


def emit_nonzero_mask(f: Func, dtype: str) -> None:
    """Turn the v128 on the stack into an all-ones mask where a lane != 0."""
    splat_const(f, dtype, 0)
    f.op("f32x4.ne" if dtype == "f32" else "i32x4.ne")


def mask_to_bool(f: Func) -> None:
    """An all-ones/zero lane mask becomes i32 1/0 (negating -1 gives 1)."""
    f.op("i32x4.neg")


def emit_unary(f: Func, module: Module, expr: Expr, load_leaf: LoadLeaf) -> None:
    (arg,) = expr.args
    src, op = arg.dtype, expr.op
    if op == "cast":
        emit_expr(f, module, arg, load_leaf)
        emit_cast(f, src, expr.dtype)
        return
    if op == "cast_checked":  # f32 -> an int64 model value in i32: |x| >= 2^31 stops the kernel
        emit_expr(f, module, arg, load_leaf)
        x = f.local(V128)
        f.op("local.tee", x)
        f.op("f32x4.abs")
        splat_const(f, "f32", 2147483648.0)
        f.op("f32x4.ge")
        f.op("v128.any_true")
        f.op("if")
        f.op("unreachable")
        f.op("end")
        f.op("local.get", x)
        emit_cast(f, src, expr.dtype)
        return
    if op == "bitcast":  # lanes are bits: f32 <-> i32 changes only how the next op reads them
        emit_expr(f, module, arg, load_leaf)
        return
    if op == "round_f16" and src == "f32":
        emit_expr(f, module, arg, load_leaf)
        emit_round_f16(f)
        return
    if op == "recip" and src == "f32":
        splat_const(f, "f32", 1.0)
        emit_expr(f, module, arg, load_leaf)
        f.op("f32x4.div")
        return
    emit_expr(f, module, arg, load_leaf)
    if src == "f32" and op in F32_SIMPLE_UNARY:
        f.op(F32_SIMPLE_UNARY[op])
    elif src == "i32" and op in I32_SIMPLE_UNARY:
        f.op(I32_SIMPLE_UNARY[op])
    elif src == "i32" and op in I32_IDENTITY_UNARY:
        pass
    elif src == "f32" and op in MATH_UNARY:
        f.op("call", math_func(module, op))
    elif op == "relu":
        splat_const(f, src, 0)
        f.op("f32x4.max" if src == "f32" else "i32x4.max_s")
    elif op == "sign":
        emit_sign(f, src)
    elif op == "not":
        emit_nonzero_mask(f, src)
        f.op("v128.not")
        mask_to_bool(f)
    elif op == "isnan" and src == "f32":
        x = f.local(V128)
        f.op("local.tee", x)
        f.op("local.get", x)
        f.op("f32x4.ne")
        mask_to_bool(f)
    elif op == "isnan":
        f.op("drop")
        splat_const(f, "i32", 0)
    else:
        raise unsupported(expr)
    if op in ("sign", "relu", "neg", "abs") and expr.dtype != src:
        emit_cast(f, src, expr.dtype)


def emit_round_f16(f: Func) -> None:
    """f32 lanes rounded to the nearest float16 value, ties to even, as f32 (float16 models
    compute in f32 and round where ONNX gives a float16 result): normal halves round the
    mantissa at bit 13 (a carry may step the exponent; 65520 and above become infinity),
    subnormal halves are multiples of 2^-24 rounded by f32x4.nearest; NaN stays NaN."""
    x, a, r = f.local(V128), f.local(V128), f.local(V128)
    f.op("local.tee", x)
    f.op("v128.const", struct.pack("<4I", *[0x7FFFFFFF] * 4))
    f.op("v128.and")
    f.op("local.tee", a)
    f.op("v128.const", struct.pack("<4I", *[0xFFF] * 4))
    f.op("i32x4.add")
    f.op("local.get", a)
    f.op("i32.const", 13)
    f.op("i32x4.shr_u")
    f.op("v128.const", struct.pack("<4I", *[1] * 4))
    f.op("v128.and")
    f.op("i32x4.add")
    f.op("v128.const", struct.pack("<4I", *[0xFFFFE000] * 4))
    f.op("v128.and")
    f.op("local.set", r)
    # beyond 65504 + half an ulp: infinity
    f.op("v128.const", struct.pack("<4I", *[0x7F800000] * 4))
    f.op("local.get", r)
    f.op("local.get", r)
    f.op("v128.const", struct.pack("<4I", *[0x477FFFFF] * 4))
    f.op("i32x4.gt_s")
    f.op("v128.bitselect")
    f.op("local.set", r)
    # below 2^-14: a multiple of 2^-24
    f.op("local.get", a)
    splat_const(f, "f32", 16777216.0)
    f.op("f32x4.mul")
    f.op("f32x4.nearest")
    splat_const(f, "f32", 2.0 ** -24)
    f.op("f32x4.mul")
    f.op("local.get", r)
    f.op("local.get", a)
    f.op("v128.const", struct.pack("<4I", *[0x38800000] * 4))
    f.op("i32x4.lt_s")
    f.op("v128.bitselect")
    f.op("local.set", r)
    # NaN as it was
    f.op("local.get", a)
    f.op("local.get", r)
    f.op("local.get", a)
    f.op("v128.const", struct.pack("<4I", *[0x7F800000] * 4))
    f.op("i32x4.gt_s")
    f.op("v128.bitselect")
    f.op("local.get", x)
    f.op("v128.const", struct.pack("<4I", *[0x80000000] * 4))
    f.op("v128.and")
    f.op("v128.or")


def emit_cast(f: Func, src: str, dst: str) -> None:
    """Convert lanes from `src` to `dst`; f32 -> i32 truncates toward zero, saturating."""
    if src == dst:
        return
    if src == "f32" and dst == "i32":
        f.op("i32x4.trunc_sat_f32x4_s")
    elif src == "i32" and dst == "f32":
        f.op("f32x4.convert_i32x4_s")
    else:
        raise CompileError(f"The WASM backend cannot cast {src} to {dst}; use f32 or i32.")


def emit_sign(f: Func, dtype: str) -> None:
    """sign(x) = (x < 0 mask) - (x > 0 mask) as i32 -1/0/1; NaN stays NaN for f32."""
    x = f.local(V128)
    f.op("local.set", x)
    lt, gt = COMPARE[dtype]["lt"], COMPARE[dtype]["gt"]
    f.op("local.get", x)
    splat_const(f, dtype, 0)
    f.op(lt)
    f.op("local.get", x)
    splat_const(f, dtype, 0)
    f.op(gt)
    f.op("i32x4.sub")
    if dtype == "f32":
        f.op("f32x4.convert_i32x4_s")
        f.op("local.get", x)
        f.op("local.get", x)
        f.op("local.get", x)
        f.op("f32x4.eq")
        # bitselect(sign, x, x == x) keeps x where it is NaN.
        f.op("v128.bitselect")


def emit_binary(f: Func, module: Module, expr: Expr, load_leaf: LoadLeaf) -> None:
    a, b = expr.args
    src, op = a.dtype, expr.op
    if op in COMPARE["f32"]:
        emit_expr(f, module, a, load_leaf)
        emit_expr(f, module, b, load_leaf)
        f.op(COMPARE[src][op])
        mask_to_bool(f)
        return
    if (op in ("div", "mod") and src == "i32") or (op == "mod" and src == "f32"):
        emit_via_f64(f, module, expr, load_leaf)
        return
    if op in ("shl", "shr", "shl_checked") and src == "i32":
        emit_shift(f, module, expr, load_leaf)
        return
    emit_expr(f, module, a, load_leaf)
    emit_expr(f, module, b, load_leaf)
    if op.endswith("_checked"):
        emit_checked(f, op, src)
    elif src == "f32" and op in F32_SIMPLE_BINARY:
        f.op(F32_SIMPLE_BINARY[op])
    elif src == "i32" and op in I32_SIMPLE_BINARY:
        f.op(I32_SIMPLE_BINARY[op])
    elif src == "f32" and op == "pow":
        f.op("call", math_func(module, "pow"))
    elif src == "i32" and op == "pow":
        emit_int_pow(f, module)
    else:
        raise unsupported(expr)


def emit_checked(f: Func, op: str, src: str) -> None:
    """a op b on i32 lanes that hold int64 model values, trapping (unreachable) when a lane's
    exact result leaves the i32 range; the runtime names the step. Lanes are always real
    elements (a row's tail splats one element), so no padding can trap."""
    if src != "i32":
        f.op(F32_SIMPLE_BINARY[op.removesuffix("_checked")])  # float results need no check
        return
    a, b, r = f.local(V128), f.local(V128), f.local(V128)
    f.op("local.set", b)
    f.op("local.tee", a)
    f.op("local.get", b)
    if op == "mul_checked":  # the exact 64-bit products must equal the i32 products, widened
        f.op("i32x4.mul")
        f.op("local.set", r)
        for half in ("low", "high"):
            f.op("local.get", a)
            f.op("local.get", b)
            f.op(f"i64x2.extmul_{half}_i32x4_s")
            f.op("local.get", r)
            f.op(f"i64x2.extend_{half}_i32x4_s")
            f.op("i64x2.eq")
            f.op("i64x2.all_true")
        f.op("i32.and")
        f.op("i32.eqz")
    else:  # add: a and b agree in sign and r does not; sub: a and b differ and r is not a's
        f.op("i32x4.add" if op == "add_checked" else "i32x4.sub")
        f.op("local.tee", r)
        f.op("local.get", a)
        f.op("v128.xor")
        f.op("local.get", b if op == "add_checked" else a)
        f.op("local.get", r if op == "add_checked" else b)
        f.op("v128.xor")
        if op == "sub_checked":
            f.op("v128.and")  # (r ^ a) & (a ^ b)
        else:
            f.op("v128.and")  # (r ^ a) & (b ^ r)
        f.op("i32x4.bitmask")
    f.op("if")
    f.op("unreachable")
    f.op("end")
    f.op("local.get", r)


def emit_int_pow(f: Func, module: Module) -> None:
    """Integer pow through f32: exact for results below 2**24, rounded to nearest."""
    b = f.local(V128)
    f.op("local.set", b)
    f.op("f32x4.convert_i32x4_s")
    f.op("local.get", b)
    f.op("f32x4.convert_i32x4_s")
    f.op("call", math_func(module, "pow"))
    f.op("f32x4.nearest")
    f.op("i32x4.trunc_sat_f32x4_s")


def emit_via_f64(f: Func, module: Module, expr: Expr, load_leaf: LoadLeaf) -> None:
    """Integer div/mod and f32 mod, two lanes at a time in f64.

    An i32 quotient rounded to f64 never crosses an integer, so trunc/floor of it is
    exact, and division by zero saturates instead of trapping like i32.div_s would.
    """
    a, b = expr.args
    la, lb = f.local(V128), f.local(V128)
    emit_expr(f, module, a, load_leaf)
    f.op("local.set", la)
    emit_expr(f, module, b, load_leaf)
    f.op("local.set", lb)
    for half in (False, True):
        load_half_f64(f, la, a.dtype, half)
        load_half_f64(f, lb, a.dtype, half)
        if expr.op == "div":
            f.op("f64x2.div")  # the conversion to i32 below truncates
        else:
            modulo_f64(f, la, lb, a.dtype, half)
        f.op("i32x4.trunc_sat_f64x2_s_zero" if expr.dtype == "i32" else "f32x4.demote_f64x2_zero")
    f.op("i8x16.shuffle", *JOIN_LOW_HALVES)


def load_half_f64(f: Func, vec: int, dtype: str, high: bool) -> None:
    """Push lanes 0,1 (or 2,3) of the v128 local `vec` widened to f64x2."""
    f.op("local.get", vec)
    if high:
        f.op("local.get", vec)
        f.op("i8x16.shuffle", *HIGH_HALF)
    f.op("f64x2.promote_low_f32x4" if dtype == "f32" else "f64x2.convert_low_i32x4_s")


def modulo_f64(f: Func, la: int, lb: int, dtype: str, high: bool) -> None:
    """With a, b (f64x2) on the stack pushed, leave a - q*b with q = floor (i32) or trunc (f32) of a/b."""
    f.op("f64x2.div")
    f.op("f64x2.floor" if dtype == "i32" else "f64x2.trunc")
    load_half_f64(f, lb, dtype, high)
    f.op("f64x2.mul")
    q_times_b = f.local(V128)
    f.op("local.set", q_times_b)
    load_half_f64(f, la, dtype, high)
    f.op("local.get", q_times_b)
    f.op("f64x2.sub")
    if dtype == "f32":  # C fmod(a, +-inf) is a for finite a; a - 0 * inf would be NaN
        keep_dividend_where_divisor_is_infinite(f, la, lb, high)


def keep_dividend_where_divisor_is_infinite(f: Func, la: int, lb: int, high: bool) -> None:
    """With r (f64x2) on the stack, leave a where |b| is inf and |a| is not, else r."""
    inf = struct.pack("<2d", math.inf, math.inf)
    r = f.local(V128)
    f.op("local.set", r)
    load_half_f64(f, la, "f32", high)
    f.op("local.get", r)
    load_half_f64(f, lb, "f32", high)
    f.op("f64x2.abs")
    f.op("v128.const", inf)
    f.op("f64x2.eq")
    load_half_f64(f, la, "f32", high)
    f.op("f64x2.abs")
    f.op("v128.const", inf)
    f.op("f64x2.ne")
    f.op("v128.and")
    f.op("v128.bitselect")


def emit_shift(f: Func, module: Module, expr: Expr, load_leaf: LoadLeaf) -> None:
    """Lane-wise shifts by per-lane amounts (SIMD128 shifts take one count), lane by lane.

    The amount is read as unsigned: 32 or more gives 0 (shl) or the sign fill (shr). shl_checked
    (int64 values held in i32) traps when the exact 64-bit result leaves the i32 range."""
    a, b = expr.args
    va, vb = f.local(V128), f.local(V128)
    x, s, r = f.local(I32), f.local(I32), f.local(I32)
    emit_expr(f, module, a, load_leaf)
    f.op("local.set", va)
    emit_expr(f, module, b, load_leaf)
    f.op("local.set", vb)
    f.op("local.get", va)
    for lane in range(4):
        f.op("local.get", va)
        f.op("i32x4.extract_lane", lane)
        f.op("local.set", x)
        f.op("local.get", vb)
        f.op("i32x4.extract_lane", lane)
        f.op("local.set", s)
        if expr.op == "shr":
            f.op("local.get", x)
            f.op("local.get", s)
            f.op("i32.const", 31)
            small_amount(f, s)
            f.op("select")
            f.op("i32.shr_s")
        else:
            f.op("local.get", x)
            f.op("local.get", s)
            f.op("i32.shl")
            f.op("i32.const", 0)
            small_amount(f, s)
            f.op("select")
            if expr.op == "shl_checked":
                f.op("local.tee", r)
                overflow_of_shl(f, x, s, r)
                f.op("if")
                f.op("unreachable")
                f.op("end")
        f.op("i32x4.replace_lane", lane)


def small_amount(f: Func, s: int) -> None:
    """Push s <u 32."""
    f.op("local.get", s)
    f.op("i32.const", 32)
    f.op("i32.lt_u")


def overflow_of_shl(f: Func, x: int, s: int, r: int) -> None:
    """Push whether x << s (int64) leaves the i32 range: below 32 the shift must undo exactly,
    from 32 to 63 only x = 0 fits, from 64 (or a negative amount) the result is 0."""
    f.op("local.get", r)
    f.op("local.get", s)
    f.op("i32.shr_s")
    f.op("local.get", x)
    f.op("i32.ne")
    f.op("local.get", x)
    f.op("i32.const", 0)
    f.op("i32.ne")
    f.op("local.get", s)
    f.op("i32.const", 64)
    f.op("i32.lt_u")
    f.op("i32.and")
    small_amount(f, s)
    f.op("select")
