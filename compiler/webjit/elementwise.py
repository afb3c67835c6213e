"""ONNX elementwise ops -> expression trees (kernels.Expr) in device dtypes."""
from __future__ import annotations

import math

from .errors import UnsupportedError
from .kernels import Expr


def const(value: float, dtype: str) -> Expr:
    return Expr("const", dtype, value=float(value))


def _binary(op):
    return lambda node, a, dt: Expr(op, dt, (a[0], a[1]))


def _compare(op, swap=False):
    return lambda node, a, dt: Expr(op, "i32", (a[1], a[0]) if swap else (a[0], a[1]))


def _unary(op):
    return lambda node, a, dt: Expr(op, dt, (a[0],))


def _fold(op):
    def build(node, a, dt):
        result = a[0]
        for x in a[1:]:
            result = Expr(op, dt, (result, x))
        return result
    return build


def _pow(node, a, dt):
    base, exponent = a
    if base.dtype == "i32" and exponent.dtype == "f32":  # an integer power by a float exponent: in f32, truncated
        return Expr("cast", "i32", (Expr("pow", "f32", (Expr("cast", "f32", (base,)), exponent)),))
    if exponent.dtype != base.dtype:  # a float base by an integer exponent
        exponent = const(exponent.value, base.dtype) if exponent.op == "const" else Expr("cast", base.dtype, (exponent,))
    if exponent.op == "const":
        e = exponent.value
        if e == 1:
            return base
        if e == 2:
            return Expr("mul", dt, (base, base))
        if e == 3:
            return Expr("mul", dt, (Expr("mul", dt, (base, base)), base))
        if e == 0.5:
            return Expr("sqrt", dt, (base,))
        if e == -1:
            return Expr("recip", dt, (base,))
        if e == -0.5:
            return Expr("recip", dt, (Expr("sqrt", dt, (base,)),))
    return Expr("pow", dt, (base, exponent))


def _cast(node, a, dt):
    x = a[0]
    if node.attrs.get("to") == 9:  # to bool: nonzero test
        return Expr("not", "i32", (Expr("eq", "i32", (x, const(0, x.dtype))),))
    if x.dtype == dt:
        return x
    return Expr("cast", dt, (x,))


def _clip(node, a, dt):
    x = a[0]
    lo = a[1] if len(a) > 1 and a[1] is not None else None
    hi = a[2] if len(a) > 2 and a[2] is not None else None
    if lo is None and "min" in node.attrs:  # opset < 11 gives the bounds as attributes
        lo = const(node.attrs["min"], dt)
    if hi is None and "max" in node.attrs:
        hi = const(node.attrs["max"], dt)
    if lo is not None:
        x = Expr("max", dt, (x, lo))
    if hi is not None:
        x = Expr("min", dt, (x, hi))
    return x


def _gelu(node, a, dt):
    x = a[0]
    if node.attrs.get("approximate", "none") == "tanh":
        cube = Expr("mul", dt, (Expr("mul", dt, (x, x)), x))
        inner = Expr("mul", dt, (const(math.sqrt(2 / math.pi), dt), Expr("add", dt, (x, Expr("mul", dt, (const(0.044715, dt), cube))))))
        gate = Expr("add", dt, (const(1, dt), Expr("tanh", dt, (inner,))))
    else:
        gate = Expr("add", dt, (const(1, dt), Expr("erf", dt, (Expr("mul", dt, (x, const(1 / math.sqrt(2), dt))),))))
    return Expr("mul", dt, (Expr("mul", dt, (const(0.5, dt), x)), gate))


def _softplus(node, a, dt):
    """max(x, 0) + log1p(exp(-|x|)): never overflows, and keeps exp(x) for very negative x
    (log(1 + u) alone rounds to 0 below u = 6e-8, so that Log(Softplus(-17)) was -inf)."""
    x = a[0]
    u = Expr("exp", dt, (Expr("neg", dt, (Expr("abs", dt, (x,)),)),))
    w = Expr("add", dt, (const(1, dt), u))
    # log1p(u) = log(w) * u / (w - 1), which cancels w's rounding; u itself where w rounds to 1
    log1p = Expr("where", dt, (Expr("eq", "i32", (w, const(1, dt))), u,
                               Expr("div", dt, (Expr("mul", dt, (Expr("log", dt, (w,)), u)),
                                                Expr("sub", dt, (w, const(1, dt)))))))
    return Expr("add", dt, (Expr("relu", dt, (x,)), log1p))


def _leaky_relu(node, a, dt):
    x = a[0]
    alpha = node.attrs.get("alpha", 0.01)
    return Expr("where", dt, (Expr("ge", "i32", (x, const(0, dt))), x, Expr("mul", dt, (x, const(alpha, dt)))))


def _hard_sigmoid(node, a, dt):
    x = Expr("add", dt, (Expr("mul", dt, (a[0], const(node.attrs.get("alpha", 0.2), dt))), const(node.attrs.get("beta", 0.5), dt)))
    return Expr("min", dt, (Expr("max", dt, (x, const(0, dt))), const(1, dt)))


def _select_sign(x, negative, positive, dt, strict=True):
    """where(x > 0 (or >= 0), positive, negative)."""
    return Expr("where", dt, (Expr("gt" if strict else "ge", "i32", (x, const(0, dt))), positive, negative))


def _expm1_of_min0(x, dt, scale=1.0):
    """exp(min(x, 0) * scale) - 1: the negative branch of ELU-like ops (never overflows)."""
    m = Expr("min", dt, (x, const(0, dt)))
    if scale != 1.0:
        m = Expr("mul", dt, (m, const(scale, dt)))
    return Expr("sub", dt, (Expr("exp", dt, (m,)), const(1, dt)))


def _selu(node, a, dt):
    x = a[0]
    alpha, gamma = node.attrs.get("alpha", 1.67326319217681884765625), node.attrs.get("gamma", 1.05070102214813232421875)
    inner = _select_sign(x, Expr("mul", dt, (const(alpha, dt), _expm1_of_min0(x, dt))), x, dt)
    return Expr("mul", dt, (const(gamma, dt), inner))


def _celu(node, a, dt):
    x, alpha = a[0], node.attrs.get("alpha", 1.0)
    negative = Expr("mul", dt, (const(alpha, dt), _expm1_of_min0(x, dt, 1.0 / alpha)))
    return Expr("add", dt, (Expr("relu", dt, (x,)), Expr("min", dt, (const(0, dt), negative))))


def _thresholded_relu(node, a, dt):
    x = a[0]
    return Expr("where", dt, (Expr("gt", "i32", (x, const(node.attrs.get("alpha", 1.0), dt))), x, const(0, dt)))


def _softsign(node, a, dt):
    x = a[0]
    return Expr("div", dt, (x, Expr("add", dt, (const(1, dt), Expr("abs", dt, (x,))))))


def _mish(node, a, dt):
    return Expr("mul", dt, (a[0], Expr("tanh", dt, (_softplus(node, a, dt),))))


def _hard_swish(node, a, dt):
    x = a[0]
    gate = Expr("add", dt, (Expr("mul", dt, (x, const(1 / 6, dt))), const(0.5, dt)))
    return Expr("mul", dt, (x, Expr("min", dt, (Expr("max", dt, (gate, const(0, dt))), const(1, dt)))))


def _shrink(node, a, dt):
    x, bias, lambd = a[0], node.attrs.get("bias", 0.0), node.attrs.get("lambd", 0.5)
    low = Expr("lt", "i32", (x, const(-lambd, dt)))
    high = Expr("gt", "i32", (x, const(lambd, dt)))
    return Expr("where", dt, (low, Expr("add", dt, (x, const(bias, dt))),
                              Expr("where", dt, (high, Expr("sub", dt, (x, const(bias, dt))), const(0, dt)))))


def _prelu(node, a, dt):
    x, slope = a
    return Expr("where", dt, (Expr("lt", "i32", (x, const(0, dt))), Expr("mul", dt, (x, slope)), x))


def _is_inf(node, a, dt):
    x = a[0]
    found = []
    if node.attrs.get("detect_positive", 1):
        found.append(Expr("eq", "i32", (x, const(math.inf, x.dtype))))
    if node.attrs.get("detect_negative", 1):
        found.append(Expr("eq", "i32", (x, const(-math.inf, x.dtype))))
    if not found:
        return const(0, "i32")
    return found[0] if len(found) == 1 else Expr("or", "i32", tuple(found))


def _elu(node, a, dt):
    x = a[0]
    neg = Expr("mul", dt, (const(node.attrs.get("alpha", 1.0), dt), Expr("sub", dt, (Expr("exp", dt, (x,)), const(1, dt)))))
    return Expr("where", dt, (Expr("gt", "i32", (x, const(0, dt))), x, neg))


def _mod(node, a, dt):
    if node.attrs.get("fmod", 0) and dt == "i32":
        raise UnsupportedError(f"Mod '{node.name}' with fmod=1 on integers is not supported")
    r = Expr("mod", dt, (a[0], a[1]))  # f32: C's fmod (the dividend's sign); i32: the divisor's sign
    if dt == "f32" and not node.attrs.get("fmod", 0):  # fmod=0 on floats: numpy's mod, the divisor's sign
        zero = const(0, dt)
        signs_differ = Expr("xor", "i32", (Expr("lt", "i32", (r, zero)), Expr("lt", "i32", (a[1], zero))))
        fix = Expr("and", "i32", (Expr("not", "i32", (Expr("eq", "i32", (r, zero)),)), signs_differ))
        r = Expr("where", dt, (fix, Expr("add", dt, (r, a[1])), r))
    return r


def _not_logic(op):
    return lambda node, a, dt: Expr(op, "i32", (a[0], a[1]))


EXPRESSIONS = {
    "Add": _binary("add"), "Sub": _binary("sub"), "Mul": _binary("mul"), "Div": _binary("div"),
    "Pow": _pow, "Mod": _mod, "Max": _fold("max"), "Min": _fold("min"), "Sum": _fold("add"),
    "Equal": _compare("eq"), "Less": _compare("lt"), "Greater": _compare("gt"),
    "LessOrEqual": _compare("le"), "GreaterOrEqual": _compare("ge"),
    "And": _not_logic("and"), "Or": _not_logic("or"), "Xor": _not_logic("xor"),
    "Not": lambda node, a, dt: Expr("not", "i32", (a[0],)),
    "BitwiseAnd": _binary("and"), "BitwiseOr": _binary("or"), "BitwiseXor": _binary("xor"),  # bitwise on i32
    "BitwiseNot": lambda node, a, dt: Expr("xor", dt, (a[0], const(-1, dt))),
    "Neg": _unary("neg"), "Abs": _unary("abs"), "Sqrt": _unary("sqrt"), "Exp": _unary("exp"),
    "Log": _unary("log"), "Reciprocal": _unary("recip"), "Erf": _unary("erf"), "Tanh": _unary("tanh"),
    "Sigmoid": _unary("sigmoid"), "Relu": _unary("relu"), "Floor": _unary("floor"), "Ceil": _unary("ceil"),
    "Round": _unary("round"), "Sign": _unary("sign"), "Sin": _unary("sin"), "Cos": _unary("cos"),
    "IsNaN": lambda node, a, dt: Expr("isnan", "i32", (a[0],)),
    "Where": lambda node, a, dt: Expr("where", dt, (a[0], a[1], a[2])),
    "Cast": _cast, "CastLike": _cast, "Clip": _clip, "Gelu": _gelu, "Softplus": _softplus,
    "LeakyRelu": _leaky_relu, "HardSigmoid": _hard_sigmoid, "Elu": _elu, "Selu": _selu, "Celu": _celu,
    "ThresholdedRelu": _thresholded_relu, "Softsign": _softsign, "Mish": _mish, "HardSwish": _hard_swish,
    "Shrink": _shrink, "PRelu": _prelu, "IsInf": _is_inf,
    "Identity": lambda node, a, dt: a[0],
}
