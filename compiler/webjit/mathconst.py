"""Polynomial coefficients and float32 constants of webjit's vector math, shared by the WASM
(wasm/simdmath.py) and WGSL (webgpu/expr.py) code generators so both compute the same values.

Coefficients were fitted for webjit (weighted least squares iterated towards minimax on
Chebyshev nodes in float64, then rounded to float32); the comment on each table names the
function, interval and weighting.
"""

# exp(r) = 1 + r + r^2 * EXP_Q(r) on [-ln2/2, ln2/2], relative error weight.
EXP_Q = (0.4999999403953552, 0.1666652113199234, 0.04166838899254799, 0.008368715643882751,
         0.0013814602280035615)
# log(1 + f) = f - f^2/2 + f^3 * LOG_P(f) on [sqrt(1/2) - 1, sqrt(2) - 1], relative weight.
LOG_P = (0.3333333134651184, -0.2500081956386566, 0.20001226663589478, -0.16623356938362122,
         0.14201758801937103, -0.13160182535648346, 0.12761574983596802, -0.07634492963552475)
# erf(x) = x * ERF_SMALL(x^2) on [0, 0.9], absolute weight.
ERF_SMALL = (1.1283791065216064, -0.3761237561702728, 0.11281134188175201,
             -0.026750918477773666, 0.004977799952030182, -0.0005938383401371539)
# erfc(x) * exp(x^2) = ERFC_SCALED(x - 2.45) on [0.9, 4], weighted by exp(-x^2).
ERFC_SCALED = (0.2145882248878479, -0.07682596147060394, 0.02649557776749134,
               -0.008283399976789951, 0.0018598414026200771, -0.0025436391588300467,
               -0.0011187349446117878, -0.00048305821837857366)
ERF_SPLIT, ERF_ONE = 0.9, 4.0  # erfc(4) < 2e-8, below half an ulp of 1.0
# tanh(x) = x + x^3 * TANH_SMALL(x^2) on [0, 0.625], absolute weight.
TANH_SMALL = (-0.33333247900009155, 0.13330769538879395, -0.053693659603595734,
              0.020510198548436165, -0.005577908828854561)
TANH_SPLIT = 0.625
# sin(r) = r + r^3 * SIN_P(r^2), cos(r) = 1 - r^2/2 + r^4 * COS_P(r^2) on [0, pi/4].
SIN_P = (-0.16666650772094727, 0.00833197869360447, -0.000194956359337084)
COS_P = (0.04166664555668831, -0.001388736767694354, 2.4438451873720624e-05)

LOG2E = 1.4426950216293335
LN2_HI, LN2_LO = 0.693359375, -0.00021219444170128554  # LN2_HI * n is exact for |n| < 2^15
TWO_OVER_PI = 0.6366197466850281
# 2/pi in 24-bit pieces, exact in float64: x * piece is exact for any float32 x, so
# sum(x * piece mod 4) is x * 2/pi mod 4 to float64 precision for every float32 (Payne-Hanek).
TWO_OVER_PI_24 = (10680707 * 2.0 ** -24, 7228996 * 2.0 ** -48, 1387004 * 2.0 ** -72, 2578385 * 2.0 ** -96,
                  16069853 * 2.0 ** -120, 12639074 * 2.0 ** -144, 9804092 * 2.0 ** -168, 4427841 * 2.0 ** -192,
                  16666979 * 2.0 ** -216)
PIO2_F64 = 1.5707963267948966
# The same bits as 32-bit words (0.a2f9836e... = 2/pi), for WGSL's integer reduction.
TWO_OVER_PI_WORDS = (0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0, 0xdb629599, 0x3c439041, 0xfe5163ab)
# pi/2 = PIO2_1 + PIO2_2 + PIO2_3; k * PIO2_1 and k * PIO2_2 are exact for |k| < 2^12.
PIO2_1, PIO2_2, PIO2_3 = 1.5703125, 0.0004838705062866211, -4.371138828673793e-08
EXP_LOW, EXP_HIGH = -104.0, 89.0  # beyond these exp is 0 or inf in float32
FLT_MIN, SQRT2 = 1.1754943508222875e-38, 1.4142135381698608
SIGN = 0x80000000
INF, NAN = float("inf"), float("nan")
# atan(t) = t + t^3 * ATAN_P(t^2) on [-tan(pi/8), tan(pi/8)] (Cephes' atanf, public domain), after
# atan(a) = pi/2 + atan(-1/a) above tan(3pi/8) and pi/4 + atan((a-1)/(a+1)) above tan(pi/8).
ATAN_P = (-0.333329491539, 0.199777106478, -0.138776856032, 0.0805374449538)
TAN_PI_8, TAN_3PI_8 = 0.41421356237309503, 2.414213562373095
PI_2, PI_4 = 1.5707963267948966, 0.7853981633974483
