"""Vector math on f32x4 lanes for elementwise kernels and epilogues.

`get(module, name)` adds an internal (non-exported) function to `module` the first time
it is asked for and returns its index; kernels `call` it. Every function is branch-free
and maps lanes independently: (v128) -> v128, or (v128, v128) -> v128 for "pow".

The polynomial tables live in webjit.mathconst (shared with the WGSL backend). Measured
accuracy against float64 is asserted in tests/test_simdmath.py.
"""
from __future__ import annotations

import struct

from webjit.mathconst import (EXP_Q, LOG_P, ERF_SMALL, ERFC_SCALED, ERF_SPLIT, ERF_ONE,
                              TANH_SMALL, TANH_SPLIT, SIN_P, COS_P, LOG2E, LN2_HI, LN2_LO, TWO_OVER_PI_24, PIO2_F64,
                              EXP_LOW, EXP_HIGH, FLT_MIN, SQRT2, SIGN, INF, NAN, ATAN_P, TAN_PI_8, TAN_3PI_8,
                              PI_2, PI_4)
from webjit.wasm.encoder import V128, EncodeError, Func, Module, f32x4_const, i32x4_const

NAMES = ("exp", "log", "erf", "tanh", "sigmoid", "sin", "cos", "pow", "atan")


def get(module: Module, name: str) -> int:
    """Index of internal function `name` in `module`, adding it (and what it calls) once."""
    if name not in NAMES:
        raise EncodeError(f"simdmath has no function {name!r}; it has {', '.join(NAMES)}.")
    if name not in module.internals:
        deps = {"erf": ("exp",), "tanh": ("exp",), "sigmoid": ("exp",), "pow": ("log", "exp")}
        calls = {dep: get(module, dep) for dep in deps.get(name, ())}
        params = [V128, V128] if name == "pow" else [V128]
        fn = module.func(None, params, [V128], label=f"math_{name}")
        BUILDERS[name](_Emit(fn, calls))
        module.internals[name] = fn.index
    return module.internals[name]


class _Emit:
    """Shorthands that keep the builders readable: ops by name, constants, locals, Horner."""

    def __init__(self, fn: Func, calls: dict[str, int]):
        self.fn, self.calls = fn, calls

    def __call__(self, *names: str) -> None:
        for name in names:
            self.fn.op(name)

    def get(self, *indices: int) -> None:
        for index in indices:
            self.fn.op("local.get", index)

    def set(self, index: int) -> None:
        self.fn.op("local.set", index)

    def new(self) -> int:
        """A fresh v128 local holding the value on top of the stack."""
        index = self.fn.local(V128)
        self.fn.op("local.set", index)
        return index

    def f(self, value: float) -> None:
        self.fn.op("v128.const", f32x4_const(value))

    def d(self, value: float) -> None:
        self.fn.op("v128.const", struct.pack("<2d", value, value))

    def i(self, value: int) -> None:
        self.fn.op("v128.const", i32x4_const(value))

    def call(self, name: str) -> None:
        self.fn.op("call", self.calls[name])

    def horner(self, t: int, coeffs: tuple[float, ...]) -> None:
        """Push c0 + c1 t + c2 t^2 + ... for the v128 local t."""
        self.f(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            self.get(t)
            self("f32x4.mul")
            self.f(c)
            self("f32x4.add")

    def select(self, if_true: int, if_false: int, mask: int) -> None:
        self.get(if_true, if_false, mask)
        self("v128.bitselect")

    def shift(self, name: str, count: int) -> None:
        """Apply lane shift `name` (i32x4.shl / shr_s / shr_u) by a constant count."""
        self.fn.op("i32.const", count)
        self.fn.op(name)

    def copysign_from(self, source: int) -> None:
        """Give the non-negative value on the stack the sign bit of local `source`."""
        self.get(source)
        self.i(SIGN)
        self("v128.and", "v128.or")


def inline_exp(fn: Func, x: int) -> None:
    """Push exp of v128 local `x` (which it overwrites), the code of the internal function
    written in place: a hot loop then keeps its vectors in registers across it (a call
    clobbers every SIMD register)."""
    build_exp(_Emit(fn, {}), x)


def build_exp(e: _Emit, x: int = 0) -> None:
    """exp(x) = 2^n * exp(r) with x = n ln2 + r; 2^n is applied as two factors 2^n1 * 2^n2
    so that n may run from -150 (a subnormal or zero result) to 128 (overflow to inf)."""
    e.get(x)
    e.f(EXP_LOW)
    e("f32x4.pmax")  # pmax/pmin return their first operand when it is NaN
    e.f(EXP_HIGH)
    e("f32x4.pmin")
    e.set(x)
    e.get(x)
    e.f(LOG2E)
    e("f32x4.mul", "f32x4.nearest")
    n = e.new()
    e.get(x, n)
    e.f(LN2_HI)
    e("f32x4.mul", "f32x4.sub")
    e.get(n)
    e.f(LN2_LO)
    e("f32x4.mul", "f32x4.sub")
    r = e.new()
    e.horner(r, EXP_Q)  # exp(r) = 1 + (r + r^2 q(r))
    e.get(r, r)
    e("f32x4.mul", "f32x4.mul")
    e.get(r)
    e("f32x4.add")
    e.f(1.0)
    e("f32x4.add")
    e.get(n)
    e("i32x4.trunc_sat_f32x4_s")
    k = e.new()
    e.get(k)
    e.shift("i32x4.shr_s", 1)
    n1 = e.new()
    e.get(n1)
    _times_pow2(e)  # exp(r) * 2^n1 with n1 = n >> 1
    e.get(k, n1)
    e("i32x4.sub")
    _times_pow2(e)  # ... * 2^n2 with n2 = n - n1


def _times_pow2(e: _Emit) -> None:
    """[v, n] -> v * 2^n for int lanes n in [-126, 127]: n + 127 goes into the exponent bits."""
    e.i(127)
    e("i32x4.add")
    e.shift("i32x4.shl", 23)
    e("f32x4.mul")


def build_log(e: _Emit) -> None:
    """log(x) = e ln2 + log1p(f) with x = 2^e (1 + f), 1 + f in [sqrt(1/2), sqrt(2)]."""
    x = 0
    e.get(x)
    e.f(FLT_MIN)
    e("f32x4.lt")
    tiny = e.new()  # subnormals (and zero) are scaled by 2^23 first
    e.get(x)
    e.f(8388608.0)
    e("f32x4.mul")
    e.get(x, tiny)
    e("v128.bitselect")
    bits = e.new()
    e.get(bits)
    e.shift("i32x4.shr_u", 23)
    e.i(127)
    e("i32x4.sub")
    e.get(tiny)
    e.i(23)
    e("v128.and", "i32x4.sub")
    expo = e.new()
    e.get(bits)
    e.i(0x007FFFFF)
    e("v128.and")
    e.i(0x3F800000)
    e("v128.or")
    mant = e.new()  # in [1, 2)
    e.get(mant)
    e.f(SQRT2)
    e("f32x4.gt")
    big = e.new()
    e.get(mant, big)
    e.i(0x00800000)
    e("v128.and", "i32x4.sub")  # halve the mantissa where it exceeds sqrt(2) ...
    e.f(1.0)
    e("f32x4.sub")
    f = e.new()
    e.get(expo, big)
    e("i32x4.sub", "f32x4.convert_i32x4_s")  # ... and add one to the exponent (mask is -1)
    ef = e.new()
    e.get(f, f)
    e("f32x4.mul")
    t = e.new()
    e.get(ef)
    e.f(LN2_HI)
    e("f32x4.mul")
    e.get(f)
    e.get(ef)
    e.f(LN2_LO)
    e("f32x4.mul")
    e.get(t)
    e.get(f)
    e.horner(f, LOG_P)
    e("f32x4.mul")
    e.f(-0.5)
    e("f32x4.add", "f32x4.mul")  # t * (f P(f) - 1/2)
    e("f32x4.add", "f32x4.add", "f32x4.add")
    result = e.new()
    for value, test in ((-INF, "f32x4.eq"), (INF, "f32x4.eq")):
        e.f(value)
        e.get(result, x)
        e.f(0.0 if value < 0 else INF)
        e(test)
        e("v128.bitselect")
        e.set(result)
    e.get(result)
    e.f(NAN)
    e.get(x)
    e.f(0.0)
    e("f32x4.ge")  # false for negative x and NaN
    e("v128.bitselect")


def build_erf(e: _Emit) -> None:
    """erf(|x|) from a polynomial below 0.9 and 1 - exp(-x^2) * poly(|x|) above; odd."""
    x = 0
    e.get(x)
    e("f32x4.abs")
    a = e.new()
    e.get(a, a)
    e("f32x4.mul")
    s = e.new()
    e.horner(s, ERF_SMALL)
    e.get(a)
    e("f32x4.mul")
    small = e.new()
    e.get(a)
    e.f(ERF_ONE)
    e("f32x4.pmin")
    c = e.new()
    e.f(1.0)
    e.get(c)
    e.f(2.45)
    e("f32x4.sub")
    u = e.new()
    e.horner(u, ERFC_SCALED)
    e.get(c, c)
    e("f32x4.mul", "f32x4.neg")
    e.call("exp")
    e("f32x4.mul", "f32x4.sub")
    large = e.new()
    e.get(a)
    e.f(ERF_SPLIT)
    e("f32x4.gt")
    mask = e.new()
    e.select(large, small, mask)  # NaN: the compare is false and the polynomial keeps NaN
    e.copysign_from(x)


def build_tanh(e: _Emit) -> None:
    """tanh(|x|) from a polynomial below 0.625 and 1 - 2 / (exp(2|x|) + 1) above; odd."""
    x = 0
    e.get(x)
    e("f32x4.abs")
    a = e.new()
    e.get(a, a)
    e("f32x4.mul")
    s = e.new()
    e.get(a, a, s)
    e("f32x4.mul")
    e.horner(s, TANH_SMALL)
    e("f32x4.mul", "f32x4.add")
    small = e.new()
    e.f(1.0)
    e.f(2.0)
    e.get(a, a)
    e("f32x4.add")
    e.call("exp")  # inf for large |x|, so the quotient goes to 0 and tanh saturates at 1
    e.f(1.0)
    e("f32x4.add", "f32x4.div", "f32x4.sub")
    large = e.new()
    e.get(a)
    e.f(TANH_SPLIT)
    e("f32x4.gt")
    mask = e.new()
    e.select(large, small, mask)
    e.copysign_from(x)


def build_sigmoid(e: _Emit) -> None:
    """1 / (1 + exp(-x)): exp overflows to inf for very negative x, giving 0."""
    e.f(1.0)
    e.f(1.0)
    e.get(0)
    e("f32x4.neg")
    e.call("exp")
    e("f32x4.add", "f32x4.div")


def reduce_pio2(e: _Emit, x: int) -> tuple[int, int]:
    """x = k pi/2 + r, |r| <= pi/4, exact for every float32 x: in float64, two lanes at a time,
    x * 2/pi mod 4 summed over the 24-bit pieces of 2/pi (each product exact). Returns the
    locals (r as f32x4, k as i32x4)."""
    parts = []
    for high in (False, True):
        e.get(x)
        if high:
            e.get(x)
            e.fn.op("i8x16.shuffle", *range(8, 16), *range(8, 16))
        e("f64x2.promote_low_f32x4")
        xd = e.new()
        for j, piece in enumerate(TWO_OVER_PI_24):
            e.get(xd)
            e.d(piece)
            e("f64x2.mul")
            p = e.new()
            e.get(p, p)
            e.d(0.25)
            e("f64x2.mul", "f64x2.floor")
            e.d(4.0)
            e("f64x2.mul", "f64x2.sub")  # p mod 4, exact
            if j:
                e("f64x2.add")
        total = e.new()
        e.get(total)
        e("f64x2.nearest")
        k = e.new()
        e.get(total, k)
        e("f64x2.sub")
        e.d(PIO2_F64)
        e("f64x2.mul", "f32x4.demote_f64x2_zero")
        e.get(k)
        e("i32x4.trunc_sat_f64x2_s_zero")
        parts.append((e.new(), e.new()))  # (k, r): popped in reverse
    (k_lo, r_lo), (k_hi, r_hi) = parts
    joined = []
    for lo, hi in ((r_lo, r_hi), (k_lo, k_hi)):
        e.get(lo, hi)
        e.fn.op("i8x16.shuffle", *range(0, 8), *range(16, 24))
        joined.append(e.new())
    return joined[0], joined[1]


def build_sincos(e: _Emit, quadrant_shift: int) -> None:
    """sin(x + quadrant_shift * pi/2): x = k pi/2 + r with |r| <= pi/4, then the quadrant
    k + shift picks sin or cos of r and the sign."""
    r, k = reduce_pio2(e, 0)
    e.get(r, r)
    e("f32x4.mul")
    t = e.new()
    e.get(r, r, t)
    e("f32x4.mul")
    e.horner(t, SIN_P)
    e("f32x4.mul", "f32x4.add")
    sin_r = e.new()
    e.f(1.0)
    e.get(t)
    e.f(-0.5)
    e("f32x4.mul")
    e.get(t, t)
    e("f32x4.mul")
    e.horner(t, COS_P)
    e("f32x4.mul", "f32x4.add", "f32x4.add")
    cos_r = e.new()
    e.get(k)
    if quadrant_shift:
        e.i(quadrant_shift)
        e("i32x4.add")
    q = e.new()
    e.get(cos_r, sin_r, q)
    e.shift("i32x4.shl", 31)
    e.shift("i32x4.shr_s", 31)  # all ones in odd quadrants
    e("v128.bitselect")
    e.get(q)
    e.i(2)
    e("v128.and")
    e.shift("i32x4.shl", 30)  # quadrants 2 and 3 flip the sign
    e("v128.xor")


def build_pow(e: _Emit) -> None:
    """exp(y log|x|), signed for negative x with odd integer y, NaN for finite negative x
    with non-integer y, and 1 where y == 0 or x == 1."""
    x, y = 0, 1
    e.get(y)
    e.get(x)
    e("f32x4.abs")
    e.call("log")
    e("f32x4.mul")
    e.call("exp")
    result = e.new()
    e.get(y)
    e("f32x4.nearest")
    e.get(y)
    e("f32x4.eq")
    integral = e.new()  # false for NaN, true for +-inf (which count as even)
    e.get(result)
    e.get(y)
    e("i32x4.trunc_sat_f32x4_s")
    e.shift("i32x4.shl", 31)  # the low bit of y, moved to the sign bit
    e.get(integral)
    e("v128.and")
    e.get(y)
    e("f32x4.abs")
    e.f(16777216.0)
    e("f32x4.lt", "v128.and")  # floats of 2^24 and more are all even
    e.get(x)
    e("v128.and", "v128.xor")
    e.set(result)
    e.f(NAN)
    e.get(result)
    e.get(x)
    e.f(0.0)
    e("f32x4.lt")
    e.get(x)
    e.f(-INF)
    e("f32x4.gt", "v128.and")  # a finite negative base: (-inf)^y is +-inf or +-0, as C's pow
    e.get(integral)
    e("v128.andnot", "v128.bitselect")
    e.set(result)
    e.f(1.0)
    e.get(result)
    e.get(y)
    e.f(0.0)
    e("f32x4.eq")
    e.get(x)
    e.f(1.0)
    e("f32x4.eq", "v128.or", "v128.bitselect")


def build_atan(e: _Emit) -> None:
    """atan(|x|) = base + t + t^3 p(t^2): t = -1/|x|, base pi/2 above tan(3pi/8); t = (|x|-1)/(|x|+1),
    base pi/4 above tan(pi/8); else t = |x|, base 0. Odd; NaN stays NaN, atan(+-inf) = +-pi/2."""
    x = 0
    e.get(x)
    e("f32x4.abs")
    a = e.new()
    e.get(a)
    e.f(TAN_3PI_8)
    e("f32x4.gt")
    big = e.new()
    e.get(a)
    e.f(TAN_PI_8)
    e("f32x4.gt")
    mid = e.new()
    e.f(-1.0)
    e.get(a)
    e("f32x4.div")
    inverse = e.new()
    e.get(a)
    e.f(1.0)
    e("f32x4.sub")
    e.get(a)
    e.f(1.0)
    e("f32x4.add", "f32x4.div")
    shifted = e.new()
    e.select(shifted, a, mid)
    near = e.new()
    e.select(inverse, near, big)
    t = e.new()
    e.f(PI_4)
    e.f(0.0)
    e.get(mid)
    e("v128.bitselect")
    near_base = e.new()
    e.f(PI_2)
    e.get(near_base, big)
    e("v128.bitselect")
    base = e.new()
    e.get(t, t)
    e("f32x4.mul")
    z = e.new()
    e.horner(z, ATAN_P)
    e.get(z)
    e("f32x4.mul")
    e.get(t)
    e("f32x4.mul")
    e.get(t)
    e("f32x4.add")
    e.get(base)
    e("f32x4.add")
    e.copysign_from(x)


BUILDERS = {
    "exp": build_exp, "log": build_log, "erf": build_erf, "tanh": build_tanh,
    "sigmoid": build_sigmoid, "sin": lambda e: build_sincos(e, 0),
    "cos": lambda e: build_sincos(e, 1), "pow": build_pow, "atan": build_atan,
}
