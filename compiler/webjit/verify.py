"""What every kernel spec must satisfy, whichever backend emits it: checked once at the
boundary between lowering and the schedule stage (`verify`), and again by `codegen` for
specs built by hand. A backend's generator states only what it alone cannot do.
"""
from __future__ import annotations

from .errors import CompileError
from .symbolic import symbolic_fields
from .kernels import (DEVICE_DTYPES, Attention, CumSum, Depthwise, Elementwise, Gather, Im2Col, LayerNorm, MatMul,
                      Pool, Reduce, Softmax, leaves, reads_acc, used_inputs)

REDUCE_KINDS = ("sum", "mean", "max", "min", "prod", "sumsq", "l1", "l2", "logsumexp")
I32_REDUCE_KINDS = ("sum", "max", "min", "prod")
POOL_KINDS = ("max", "avg")


def verify(spec) -> None:
    """A CompileError naming the first thing wrong with `spec`; nothing when it is well formed."""
    for i, arg in enumerate(spec.args):
        if arg.dtype not in DEVICE_DTYPES:
            raise CompileError(f"Kernel argument {i} has dtype {arg.dtype!r}; devices hold only f32 and i32.")
    sizes = getattr(spec, "sizes", None)
    if sizes is not None and not (sizes == len(spec.args) - 1 and spec.args[sizes].dtype == "i32"
                                  and spec.args[sizes].size >= len(spec.dims) and not spec.args[sizes].output):
        raise CompileError(f"Kernel argument {sizes} holds the symbolic sizes {spec.dims}; it must be the last "
                           f"argument, an i32 input with one element per dimension.")
    if sizes is None and symbolic_fields(spec):
        raise CompileError(f"The kernel's {', '.join(symbolic_fields(spec))} are symbolic, but it has no sizes argument.")
    check = CHECKS.get(spec.family)
    if check is None:
        raise CompileError(f"Kernel family {spec.family!r} is unknown.")
    check(spec)


def _elementwise(spec: Elementwise) -> None:
    for access in [spec.out, *spec.inputs]:
        if len(access.strides) != len(spec.shape):
            raise CompileError(f"An elementwise access has strides {access.strides} for shape "
                               f"{spec.shape}; give one stride per dimension.")
    if reads_acc(spec.expr):
        raise CompileError("An elementwise expression cannot read `acc`; only matmul epilogues can.")
    for i in used_inputs(spec.expr):
        if not 0 <= i < len(spec.inputs):
            raise CompileError(f"The elementwise expression reads input {i} of {len(spec.inputs)}.")
    for leaf in leaves(spec.expr):
        stored = spec.args[spec.inputs[leaf.index].arg].dtype
        if leaf.dtype != stored:
            raise CompileError(f"Elementwise input {leaf.index} is stored as {stored} but read as "
                               f"{leaf.dtype}; insert a cast.")
    if spec.args[spec.out.arg].dtype != spec.expr.dtype:
        raise CompileError(f"The elementwise output is {spec.args[spec.out.arg].dtype} but the "
                           f"expression gives {spec.expr.dtype}; insert a cast.")


def _matmul(spec: MatMul) -> None:
    rank = len(spec.batch) + 2
    named = (("a", spec.a), ("bmat", spec.bmat), ("out", spec.out)) + tuple(
        (f"extra {i}", e) for i, e in enumerate(spec.extras))
    for name, access in named:
        if len(access.strides) != rank:
            raise CompileError(f"MatMul {name} has {len(access.strides)} strides, expected {rank}.")
    for name, access in (("a", spec.a), ("bmat", spec.bmat)):
        if spec.args[access.arg].dtype != "f32":
            raise CompileError(f"MatMul multiplies f32 only, but {name} is {spec.args[access.arg].dtype}.")
    if spec.epilogue is not None:
        for leaf in leaves(spec.epilogue):
            if not 0 <= leaf.index < len(spec.extras):
                raise CompileError(f"MatMul epilogue leaf {leaf} is not an input or the accumulator.")
    source = spec.im2col
    if source is not None:
        images, groups = spec.batch if len(spec.batch) == 2 else (0, 0)
        if (len(spec.batch) != 2 or groups < 1 or source.c % groups or not 0 <= source.x < len(spec.args)
                or spec.k != source.c // groups * source.kh * source.kw or spec.n != source.oh * source.ow
                or spec.args[source.x].size < images * source.c * source.h * source.w):
            raise CompileError(f"MatMul's im2col source {source} does not match its shape "
                               f"(batch {spec.batch}, k {spec.k}, n {spec.n}).")


def _reduce(spec: Reduce) -> None:
    if spec.kind not in REDUCE_KINDS:
        raise CompileError(f"webjit has no reduction {spec.kind!r}; it has {', '.join(REDUCE_KINDS)}.")
    if spec.args[0].dtype == "i32" and spec.kind not in I32_REDUCE_KINDS:
        raise CompileError(f"webjit reduces i32 only with {', '.join(I32_REDUCE_KINDS)}, not "
                           f"{spec.kind}; cast to f32 first.")


def _nargs(spec) -> int:
    """Arguments besides the symbolic sizes (bound last, when the spec has them)."""
    return len(spec.args) - (getattr(spec, "sizes", None) is not None)


def _layernorm(spec: LayerNorm) -> None:
    expected = 2 + spec.params
    if _nargs(spec) != expected:
        raise CompileError(f"LayerNorm with has_scale={spec.has_scale}, has_bias={spec.has_bias} takes {expected} arguments, "
                           f"got {len(spec.args)}.")
    if spec.r <= 0:
        raise CompileError(f"LayerNorm needs rows of at least one element, got r={spec.r}.")


def _gather(spec: Gather) -> None:
    if _nargs(spec) != 3 or spec.args[1].dtype != "i32":
        raise CompileError("Gather takes three arguments (data, i32 indices, out).")


def _window(spec: Im2Col | Pool | Depthwise) -> None:
    family = type(spec).__name__
    if min(spec.strides) < 1 or min(spec.dilations) < 1 or min(spec.pads) < 0:
        raise CompileError(f"{family} needs strides and dilations >= 1 and pads >= 0, got "
                           f"strides {spec.strides}, dilations {spec.dilations}, pads {spec.pads}.")


def _pool(spec: Pool) -> None:
    if spec.kind not in POOL_KINDS:
        raise CompileError(f"Pool kind {spec.kind!r} is not supported; use max or avg.")
    if spec.args[0].dtype != "f32":
        raise CompileError(f"Pooling reads f32 only, not {spec.args[0].dtype}.")
    _window(spec)


def _depthwise(spec: Depthwise) -> None:
    _window(spec)
    if len(spec.args) < 3 or spec.args[0].dtype != "f32" or spec.args[1].dtype != "f32":
        raise CompileError("Depthwise takes an f32 image, f32 filters, its epilogue inputs and the output.")
    sizes = {"image": (0, spec.n * spec.c * spec.h * spec.w), "filters": (1, spec.c * spec.kh * spec.kw),
             "output": (len(spec.args) - 1, spec.n * spec.c * spec.oh * spec.ow)}
    for name, (arg, size) in sizes.items():
        if spec.args[arg].size != size and not (size == 0 and spec.args[arg].size == 1):
            raise CompileError(f"Depthwise {name} (arg {arg}) holds {spec.args[arg].size} elements, expected {size}.")
    if not spec.args[-1].output:
        raise CompileError("Depthwise writes its last argument, which must be an output.")
    for i, access in enumerate(spec.extras):
        if len(access.strides) != 3 or not 0 <= access.arg < len(spec.args) - 1:
            raise CompileError(f"Depthwise extra {i} must index (image, channel, pixel) of an input argument.")
    if spec.epilogue is not None:
        for leaf in leaves(spec.epilogue):
            if not 0 <= leaf.index < len(spec.extras):
                raise CompileError(f"Depthwise epilogue leaf {leaf} is not an input or the accumulator.")


def _nothing(spec: Softmax | CumSum) -> None:
    pass


def _attention(spec: Attention) -> None:
    rank = len(spec.batch) + 2
    named = (("q", spec.q, "f32"), ("k", spec.k, "f32"), ("v", spec.v, "f32"), ("select", spec.select, "i32"),
             ("add", spec.add, "f32"), ("out", spec.out, "f32"))
    for name, access, dtype in named:
        if access is None:
            continue
        if len(access.strides) != rank or any(s < 0 for s in access.strides) or access.offset < 0:
            raise CompileError(f"Attention {name} needs {rank} non-negative strides and offset, not "
                               f"{access.strides} at {access.offset}.")
        if spec.args[access.arg].dtype != dtype:
            raise CompileError(f"Attention {name} must be {dtype}, not {spec.args[access.arg].dtype}.")
    for name, access in (("q", spec.q), ("k", spec.k), ("v", spec.v)):
        if access.strides[-1] != 1:
            raise CompileError(f"Attention {name} must have depth stride 1, not {access.strides[-1]}.")
    if any(n < 1 for n in (spec.sq, spec.sk, spec.d, spec.dv)):
        raise CompileError(f"Attention needs non-empty sizes, not sq={spec.sq} sk={spec.sk} d={spec.d} dv={spec.dv}.")


CHECKS = {"elementwise": _elementwise, "matmul": _matmul, "reduce": _reduce, "softmax": _nothing,
          "layernorm": _layernorm, "gather": _gather, "im2col": _window, "pool": _pool,
          "depthwise": _depthwise,
          "cumsum": _nothing, "attention": _attention}
