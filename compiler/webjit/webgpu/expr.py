"""WGSL for expression trees (elementwise kernels and matmul epilogues).

`wgsl_expr` returns one scalar WGSL expression; every op that needs more than one WGSL
operator is a helper function (`wj_*`, listed by `expr_functions`), so an argument's
text appears exactly once and is evaluated once. Semantics match the WASM backend
(webjit.wasm.expr): comparisons and logic give i32 0/1, i32 division truncates and
saturates instead of trapping, i32 mod takes the divisor's sign, f32 mod is C fmod,
round is half to even, f32 -> i32 truncates and saturates with NaN -> 0. WGSL leaves
NaN handling of min/max/sign/clamp and the domain edges of log/sqrt to the driver, so
the helpers test those cases themselves.
"""
from __future__ import annotations

from typing import Callable

from webjit.errors import CompileError
from webjit.kernels import Expr
from webjit.mathconst import (ATAN_P, PI_2, PI_4, TAN_3PI_8, TAN_PI_8, COS_P, ERF_ONE, ERF_SMALL, ERF_SPLIT, ERFC_SCALED, PIO2_1, PIO2_2, PIO2_3,
                              PIO2_F64, SIN_P, TANH_SMALL, TANH_SPLIT, TWO_OVER_PI, TWO_OVER_PI_WORDS)
from webjit.webgpu.wgsl import PRELUDE, f32_literal, literal, runtime_f32, runtime_i32, wgsl_type

Leaf = Callable[[Expr], str]

NAN = "wj_f32_bits(0x7fc00000u)"  # helper "bits" (wgsl.PRELUDE) declares wj_f32_bits
INF = "wj_f32_bits(0x7f800000u)"
RUNTIME_BITS = ("wj_f32_bits", "wj_i32_bits")


def horner(var: str, coeffs) -> str:
    """c0 + var * (c1 + var * (c2 + ...)) with exact f32 literals."""
    text = f32_literal(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        text = f"{f32_literal(c)} + {var} * ({text})"
    return text


# name -> (helpers it calls, WGSL source)
HELPERS = {
    "bits": ((), PRELUDE),
    "isnan": ((), """fn wj_isnan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;  // x != x may be optimised away
}"""),
    "min_f": (("isnan",), """fn wj_min_f(a: f32, b: f32) -> f32 {
  return select(min(a, b), a + b, wj_isnan(a) || wj_isnan(b));
}"""),
    "max_f": (("isnan",), """fn wj_max_f(a: f32, b: f32) -> f32 {
  return select(max(a, b), a + b, wj_isnan(a) || wj_isnan(b));
}"""),
    "relu_f": ((), """fn wj_relu_f(x: f32) -> f32 {
  return select(x, 0.0f, x < 0.0f);  // NaN stays NaN
}"""),
    "sign_f": (("isnan",), """fn wj_sign_f(x: f32) -> f32 {
  return select(select(select(0.0f, 1.0f, x > 0.0f), -1.0f, x < 0.0f), x, wj_isnan(x));
}"""),
    "sign_i": ((), """fn wj_sign_i(x: i32) -> i32 {
  return select(select(0i, 1i, x > 0i), -1i, x < 0i);
}"""),
    "log": ((), f"""fn wj_log(x: f32) -> f32 {{
  // WGSL's log need not keep inf and NaN (SwiftShader answers about 89): decided by the bits.
  let bits = bitcast<u32>(x);
  let special = select(select({NAN}, {INF}, bits == 0x7f800000u), -{INF}, (bits & 0x7fffffffu) == 0u);
  return select(select(log(x), special, bits == 0x7f800000u || (bits & 0x7fffffffu) == 0u
                       || (bits & 0x7fffffffu) > 0x7f800000u), {NAN}, x < 0.0f);
}}"""),
    "sqrt": ((), f"""fn wj_sqrt(x: f32) -> f32 {{
  return select(sqrt(x), {NAN}, x < 0.0f);
}}"""),
    "round_f16": ((), """fn wj_round_f16(x: f32) -> f32 {
  // the nearest float16 value, ties to even (as WASM's emit_round_f16): NaN kept, 65520 and up infinite
  let bits = bitcast<u32>(x);
  let a = bits & 0x7fffffffu;
  if (a > 0x7f800000u) { return x; }
  var r = (a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u;
  if (r > 0x477fffffu) { r = 0x7f800000u; }
  if (a < 0x38800000u) { r = bitcast<u32>(round(bitcast<f32>(a) * 16777216.0f) * 5.9604644775390625e-8f); }
  return bitcast<f32>(r | (bits & 0x80000000u));
}"""),
    "cast_f_i": (("isnan",), """fn wj_cast_f_i(x: f32) -> i32 {
  // Truncate toward zero, saturating; NaN gives 0. 2147483520 is the last f32 below 2^31.
  let t = i32(clamp(x, -2147483648.0f, 2147483520.0f));
  return select(select(t, 2147483647i, x >= 2147483648.0f), 0i, wj_isnan(x));
}"""),
    "erf": ((), f"""fn wj_erf(x: f32) -> f32 {{
  let a = abs(x);
  let s = a * a;
  let small = a * ({horner("s", ERF_SMALL)});
  let c = min(a, {f32_literal(ERF_ONE)});
  let u = c - 2.45f;
  let large = 1.0f - exp(-(c * c)) * ({horner("u", ERFC_SCALED)});
  let r = select(small, large, a > {f32_literal(ERF_SPLIT)});  // NaN keeps the polynomial's NaN
  return bitcast<f32>(bitcast<u32>(r) | (bitcast<u32>(x) & 0x80000000u));
}}"""),
    "tanh": ((), f"""fn wj_tanh(x: f32) -> f32 {{
  // exp(-2|x|) never overflows, unlike tanh() or exp(2|x|) on some drivers.
  let a = abs(x);
  let s = a * a;
  let small = a + a * s * ({horner("s", TANH_SMALL)});
  let t = exp(-2.0f * a);
  let r = select(small, (1.0f - t) / (1.0f + t), a > {f32_literal(TANH_SPLIT)});
  return bitcast<f32>(bitcast<u32>(r) | (bitcast<u32>(x) & 0x80000000u));
}}"""),
    "atan": ((), f"""fn wj_atan(x: f32) -> f32 {{
  // As the WASM kernels (simdmath.build_atan): reduced to |t| <= tan(pi/8), odd, NaN kept.
  let a = abs(x);
  let big = a > {f32_literal(TAN_3PI_8)};
  let mid = a > {f32_literal(TAN_PI_8)};
  let t = select(select(a, (a - 1.0f) / (a + 1.0f), mid), -1.0f / a, big);
  let base = select(select(0.0f, {f32_literal(PI_4)}, mid), {f32_literal(PI_2)}, big);
  let z = t * t;
  let r = base + (t + ({horner("z", ATAN_P)}) * z * t);
  return bitcast<f32>(bitcast<u32>(r) | (bitcast<u32>(x) & 0x80000000u));
}}"""),
    "shl": ((), """fn wj_shl(a: i32, b: i32) -> i32 {
  // The amount is unsigned: 32 or more shifts everything out.
  let s = bitcast<u32>(b);
  return select(a << (s & 31u), 0i, s >= 32u);
}"""),
    "shr": ((), """fn wj_shr(a: i32, b: i32) -> i32 {
  return a >> min(bitcast<u32>(b), 31u);  // arithmetic: 32 or more leaves the sign fill
}"""),
    "shl_checked": (("shl",), """fn wj_shl_checked(a: i32, b: i32) -> i32 {
  // int64 values held in i32: the exact 64-bit a << b must fit (from 64 on, or negative, it is 0).
  let r = wj_shl(a, b);
  let s = bitcast<u32>(b);
  if ((s < 32u && (r >> (s & 31u)) != a) || (s >= 32u && s < 64u && a != 0i)) { wj_flag(); }
  return r;
}"""),
    "sigmoid": ((), """fn wj_sigmoid(x: f32) -> f32 {
  // exp of a non-positive number only: no overflow for large |x|.
  let t = exp(-abs(x));
  return select(t / (1.0f + t), 1.0f / (1.0f + t), x >= 0.0f);
}"""),
    "mul_wide": ((), """fn wj_mul_wide(a: u32, b: u32) -> vec2<u32> {
  // a * b as (low word, high word), from 16-bit halves.
  let p00 = (a & 0xffffu) * (b & 0xffffu);
  let p01 = (a & 0xffffu) * (b >> 16u);
  let p10 = (a >> 16u) * (b & 0xffffu);
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), (a >> 16u) * (b >> 16u) + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}"""),
    "reduce_large": (("mul_wide",), f"""fn wj_reduce_large(x: f32) -> vec2<f32> {{
  // x = k pi/2 + r for finite |x| >= 4096, exactly (Payne-Hanek in 32-bit integers): with
  // x = m 2^e, x 2/pi mod 4 = m * (96 bits of 2/pi from bit e - 1) / 2^94; returns (r, k).
  var table = array<u32, 8>(0u, {", ".join(f"0x{w:08x}u" for w in TWO_OVER_PI_WORDS)});
  let bits = bitcast<u32>(x);
  let m = (bits & 0x7fffffu) | 0x800000u;
  let s = ((bits >> 23u) & 0xffu) - 120u;  // e + 30 with e = exponent - 150, at least 19 here
  let i = s >> 5u;
  let o = s & 31u;
  var f: array<u32, 3>;
  for (var j = 0u; j < 3u; j++) {{
    f[j] = select((table[i + j] << o) | (table[i + j + 1u] >> (32u - o)), table[i + j], o == 0u);
  }}
  let p0 = wj_mul_wide(m, f[2]);
  let p1 = wj_mul_wide(m, f[1]);
  let p2 = wj_mul_wide(m, f[0]);
  let w1 = p1.x + p0.y;
  let w2 = p2.x + p1.y + select(0u, 1u, w1 < p1.x);
  var k = i32(w2 >> 30u);
  var hi = (w2 << 2u) | (w1 >> 30u);
  var lo = (w1 << 2u) | (p0.x >> 30u);
  var sign = 1.0f;
  if (hi >= 0x80000000u) {{  // the nearer multiple of pi/2 is the next one
    k = k + 1;
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
    sign = -1.0f;
  }}
  let r = sign * (f32(hi) * {f32_literal(2.0 ** -32)} + f32(lo) * {f32_literal(2.0 ** -64)}) * {f32_literal(PIO2_F64)};
  return select(vec2<f32>(r, f32(k)), vec2<f32>(-r, f32(-k)), (bits >> 31u) == 1u);
}}"""),
    # int64 model values held in i32: a result outside the i32 range sets the kernel's status
    # word (wj_flag, declared by kernels whose spec has a status arg) instead of passing silently.
    "add_checked": ((), """fn wj_add_checked(a: i32, b: i32) -> i32 {
  let r = a + b;
  if (((a ^ r) & (b ^ r)) < 0i) { wj_flag(); }
  return r;
}"""),
    "sub_checked": ((), """fn wj_sub_checked(a: i32, b: i32) -> i32 {
  let r = a - b;
  if (((a ^ b) & (a ^ r)) < 0i) { wj_flag(); }
  return r;
}"""),
    "mul_checked": ((), """fn wj_mul_checked(a: i32, b: i32) -> i32 {
  let r = a * b;
  if (a != 0i && (r / a != b || (a == -1i && b == bitcast<i32>(0x80000000u)))) { wj_flag(); }
  return r;
}"""),
    "cast_checked": (("cast_f_i",), """fn wj_cast_checked(x: f32) -> i32 {
  if (abs(x) >= 2147483648.0f) { wj_flag(); }
  return wj_cast_f_i(x);
}"""),
    "sincos": (("reduce_large",), f"""fn wj_sincos(x: f32, shift: i32) -> f32 {{
  // x = k pi/2 + r with |r| <= pi/4; quadrant k + shift picks sin or cos of r and the sign.
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) {{ return {NAN}; }}
  var r: f32;
  var k: i32;
  if (abs(x) >= 4096.0f) {{
    let reduced = wj_reduce_large(x);
    r = reduced.x;
    k = i32(reduced.y);
  }} else {{  // k pi/2 in three parts, exact for |k| < 2^12
    let kf = round(x * {f32_literal(TWO_OVER_PI)});
    r = x - kf * {f32_literal(PIO2_1)} - kf * {f32_literal(PIO2_2)} - kf * {f32_literal(PIO2_3)};
    k = i32(kf);
  }}
  let t = r * r;
  let sin_r = r + r * t * ({horner("t", SIN_P)});
  let cos_r = 1.0f - 0.5f * t + t * t * ({horner("t", COS_P)});
  let q = k + shift;
  let v = select(sin_r, cos_r, (q & 1) == 1);
  return select(v, -v, (q & 2) == 2);
}}"""),
    "pow_f": (("log",), f"""fn wj_pow_f(x: f32, y: f32) -> f32 {{
  // exp(y log|x|), negative for x < 0 with odd integer y, NaN for finite x < 0 with fractional y.
  if (y == 0.0f || x == 1.0f) {{ return 1.0f; }}
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u || (bitcast<u32>(y) & 0x7fffffffu) > 0x7f800000u) {{
    return {NAN};  // WGSL's exp need not keep NaN
  }}
  let m = exp(y * wj_log(abs(x)));
  let integral = round(y) == y;
  let odd = integral && abs(y) < 16777216.0f && (i32(y) & 1) == 1;
  let negative = (bitcast<u32>(x) & 0x80000000u) != 0u;
  if (negative && odd) {{ return -m; }}
  if (x < 0.0f && x > -{INF} && !integral) {{ return {NAN}; }}  // (-inf)^y is +-inf or +-0
  return m;
}}"""),
    "pow_i": (("pow_f", "cast_f_i"), """fn wj_pow_i(a: i32, b: i32) -> i32 {
  // Through f32 like the WASM kernels: exact below 2^24, rounded to nearest.
  return wj_cast_f_i(round(wj_pow_f(f32(a), f32(b))));
}"""),
    "div_i": ((), """fn wj_div_i(a: i32, b: i32) -> i32 {
  // Truncating; x/0 saturates by the sign of x (0/0 = 0) and MIN/-1 saturates, never traps.
  if (b == 0i) { return select(select(0i, 2147483647i, a > 0i), bitcast<i32>(0x80000000u), a < 0i); }
  if (b == -1i) { return select(-a, 2147483647i, a == bitcast<i32>(0x80000000u)); }
  return a / b;
}"""),
    "mod_i": ((), """fn wj_mod_i(a: i32, b: i32) -> i32 {
  // Floored modulo (the divisor's sign); x mod 0 gives 0 like the WASM kernels.
  if (b == 0i || b == -1i) { return 0i; }
  let r = a % b;
  return select(r, r + b, r != 0i && ((r < 0i) != (b < 0i)));
}"""),
    "mod_f": (("isnan",), f"""fn wj_mod_f(a: f32, b: f32) -> f32 {{
  // C fmod, exact: subtract |b| * 2^k with |b| 2^k <= r < |b| 2^(k+1), which loses no bits.
  let d = abs(b);
  var r = abs(a);
  if (wj_isnan(a) || wj_isnan(b) || d == 0.0f || r == {INF}) {{ return {NAN}; }}
  for (var i = 0; i < 320 && r >= d; i++) {{
    var s = d * exp2(clamp(floor(log2(r) - log2(d)), 0.0f, 126.0f));
    if (s > r) {{ s = s * 0.5f; }}
    if (s * 2.0f <= r) {{ s = s * 2.0f; }}
    r = r - s;
  }}
  return bitcast<f32>(bitcast<u32>(r) | (bitcast<u32>(a) & 0x80000000u));
}}"""),
}

F32_UNARY_BUILTIN = {"abs": "abs", "exp": "exp", "floor": "floor", "ceil": "ceil", "round": "round"}
F32_UNARY_HELPER = {"log": "log", "sqrt": "sqrt", "erf": "erf", "tanh": "tanh", "atan": "atan",
                    "sigmoid": "sigmoid", "relu": "relu_f", "sign": "sign_f"}
I32_UNARY_HELPER = {"sign": "sign_i"}
OPERATORS = {"add": "+", "sub": "-", "mul": "*"}
COMPARE = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
I32_BITWISE = {"and": "&", "or": "|", "xor": "^"}


class Writer:
    """Builds the WGSL text of one tree, recording the helpers it calls."""

    def __init__(self, leaf: Leaf):
        self.leaf = leaf
        self.used: list[str] = []
        self.runtime_consts = False

    def call(self, helper: str, *args: str) -> str:
        self.use(helper)
        return f"wj_{helper}({', '.join(args)})"

    def use(self, helper: str) -> None:
        if helper in self.used:
            return
        for dep in HELPERS[helper][0]:
            self.use(dep)
        self.needs_bits(HELPERS[helper][1])
        self.used.append(helper)

    def needs_bits(self, text: str) -> str:
        """Declare wj_f32_bits / wj_i32_bits when `text` calls them; returns `text`."""
        if helper_calls_bits(text) and "bits" not in self.used:
            self.used.insert(0, "bits")
        return text

    def expr(self, e: Expr) -> str:
        if e.op in ("in", "acc"):
            return self.leaf(e)
        if e.op == "const":
            if self.runtime_consts:
                text = runtime_f32(e.value) if wgsl_type(e.dtype) == "f32" else runtime_i32(e.value)
            else:
                text = literal(e.value, wgsl_type(e.dtype))
            return self.needs_bits(text)
        if not self.runtime_consts and not has_leaf(e):
            # WGSL would fold a constant-only subtree and refuse it if it overflows.
            self.runtime_consts = True
            try:
                return self.expr(e)
            finally:
                self.runtime_consts = False
        if e.op == "where":
            cond, a, b = e.args
            return f"select({self.expr(b)}, {self.expr(a)}, {self.expr(cond)} != {zero(cond.dtype)})"
        if len(e.args) == 1:
            return self.unary(e)
        if len(e.args) == 2:
            return self.binary(e)
        raise unsupported(e)

    def unary(self, e: Expr) -> str:
        (arg,) = e.args
        src, op, x = arg.dtype, e.op, self.expr(arg)
        if op == "cast":
            return self.cast(x, src, e.dtype)
        if op == "cast_checked":  # the kernel defines wj_flag (elementwise.py): it marks the status word
            return self.call("cast_checked", x)
        if op == "not":
            return f"select(0i, 1i, {x} == {zero(src)})"
        if op == "bitcast":
            return x if src == e.dtype else f"bitcast<{wgsl_type(e.dtype)}>({x})"
        if op == "isnan":
            return f"select(0i, 1i, {self.call('isnan', x)})" if src == "f32" else "0i"
        if op == "round_f16" and src == "f32":
            return self.call("round_f16", x)
        if src == "f32":
            if op == "neg":
                value = f"(-{x})"
            elif op == "recip":
                value = f"(1.0f / {x})"
            elif op in F32_UNARY_BUILTIN:
                value = f"{F32_UNARY_BUILTIN[op]}({x})"
            elif op in F32_UNARY_HELPER:
                value = self.call(F32_UNARY_HELPER[op], x)
            elif op in ("sin", "cos"):
                value = self.call("sincos", x, "0i" if op == "sin" else "1i")
            else:
                raise unsupported(e)
        elif src == "i32":
            if op == "neg":
                value = f"(-{x})"
            elif op == "abs":
                value = f"abs({x})"
            elif op in ("floor", "ceil", "round"):
                value = x  # integers are already whole
            elif op == "relu":
                value = f"max({x}, 0i)"
            elif op in I32_UNARY_HELPER:
                value = self.call(I32_UNARY_HELPER[op], x)
            else:
                raise unsupported(e)
        else:
            raise unsupported(e)
        if e.dtype != src:
            if op not in ("sign", "relu", "neg", "abs"):
                raise unsupported(e)
            return self.cast(value, src, e.dtype)
        return value

    def cast(self, x: str, src: str, dst: str) -> str:
        if src == dst:
            return x
        if src == "f32" and dst == "i32":
            return self.call("cast_f_i", x)
        if src == "i32" and dst == "f32":
            return f"f32({x})"
        raise CompileError(f"The WebGPU backend cannot cast {src} to {dst}; use f32 or i32.")

    def binary(self, e: Expr) -> str:
        a_expr, b_expr = e.args
        src, op = a_expr.dtype, e.op
        a, b = self.expr(a_expr), self.expr(b_expr)
        if op.endswith("_checked"):
            if src == "f32":
                return f"({a} {OPERATORS[op.removesuffix('_checked')]} {b})"
            return self.call(op, a, b)
        if op in COMPARE:
            return f"select(0i, 1i, {a} {COMPARE[op]} {b})"
        if op in OPERATORS:
            return f"({a} {OPERATORS[op]} {b})"
        if src == "f32":
            table = {"div": None, "min": "min_f", "max": "max_f", "pow": "pow_f", "mod": "mod_f"}
            if op == "div":
                return f"({a} / {b})"
            if op in table:
                return self.call(table[op], a, b)
        if src == "i32":
            if op in I32_BITWISE:
                return f"({a} {I32_BITWISE[op]} {b})"
            if op in ("min", "max"):
                return f"{op}({a}, {b})"
            if op in ("div", "mod", "pow"):
                return self.call(f"{op}_i", a, b)
            if op in ("shl", "shr"):
                return self.call(op, a, b)
        raise unsupported(e)


def helper_calls_bits(text: str) -> bool:
    return any(f"{name}(" in text and f"fn {name}(" not in text for name in RUNTIME_BITS)


def has_leaf(e: Expr) -> bool:
    return e.op in ("in", "acc") or any(has_leaf(a) for a in e.args)


def zero(dtype: str) -> str:
    return "0.0f" if dtype == "f32" else "0i"


def unsupported(e: Expr) -> CompileError:
    arg_types = ", ".join(a.dtype for a in e.args)
    return CompileError(f"The WebGPU backend cannot compute {e.op} of ({arg_types}) giving "
                        f"{e.dtype}; cast the operands or file a bug.")


def wgsl_expr(expr: Expr, leaf: Leaf) -> str:
    """A scalar WGSL expression computing `expr`; leaf(e) gives the text of "in"/"acc" leaves."""
    return Writer(leaf).expr(expr)


def helpers_used(expr: Expr) -> list[str]:
    writer = Writer(lambda e: "0.0f" if e.dtype == "f32" else "0i")
    writer.expr(expr)
    return writer.used


def helper_functions(names) -> str:
    """WGSL source of the named helpers (e.g. "max_f", "log") and what they call, each once."""
    writer = Writer(lambda e: "")
    for name in names:
        writer.use(name)
    return "".join(HELPERS[name][1] + "\n" for name in writer.used)


def expr_functions(expr: Expr | None) -> str:
    """The WGSL helper functions `expr` needs, each once, callees before callers."""
    if expr is None:
        return ""
    return "".join(HELPERS[name][1] + "\n" for name in helpers_used(expr))
