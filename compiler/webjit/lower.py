"""Lowering: a Graph -> a Program of kernel steps over buffers.

Layout ops (Reshape, Transpose, Slice, Expand, Squeeze, ...) become strided views and
cost nothing; elementwise chains are fused into one expression, and into the epilogue of
the MatMul / Gemm / Conv that produces their input (lower_anchors.py lowers those). Everything
else maps to one kernel family of kernels.py (lower_ops.py, one rule per op). Buffers are
placed later by plan.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import kernels as K
from .kernels import args_for
from .attention import find_attention, lower_attention
from .dtypes import narrow_expr
from .elementwise import EXPRESSIONS, const
from .errors import CompileError, UnsupportedError
from .ir import Graph, Node
from .nplike import np
from .symbolic import Dim, Sym, SymbolicError, graph_dims, is_symbolic, symbolic_fields, upper
from .views import Buffer, View, broadcast_strides, full_view, read_constant, row_major

ANCHORS = ("MatMul", "Gemm", "Conv")
FLOAT_DTYPES = ("float32", "float64", "float16")


# The most tensors one fused elementwise kernel reads: WebGPU guarantees 8 storage buffers per
# shader stage (maxStorageBuffersPerShaderStage), one of them the output and one the int64
# status word (lower_elementwise_root). A wider group is split. (MatMul/Conv epilogues are
# checked against the device's limit by the WGSL code generator.)
MAX_GROUP_INPUTS = 6


def device_dtype(dtype: str) -> str:
    return "f32" if dtype in FLOAT_DTYPES else "i32"


@dataclass(frozen=True)
class Step:
    spec: K.KernelSpec
    buffers: tuple[Buffer, ...]  # bound to spec.args in order
    name: str
    source: int | None = None  # a convolution's GEMM: the index of the Im2Col step writing its columns


@dataclass
class ModelIO:
    name: str
    dtype: str  # ONNX dtype seen by users
    shape: tuple[int, ...]
    buffer: Buffer
    valid_range: tuple[int, int] | None = None


@dataclass
class Program:
    inputs: list[ModelIO]
    outputs: list[ModelIO]
    buffers: list[Buffer]
    steps: list[Step] = field(default_factory=list)
    status: Buffer | None = None  # one i32 that kernels set when an int64 value leaves the i32 range
    sizes: Buffer | None = None  # the symbolic sizes of a run (i32, one per dim), written by the runtime
    dims: tuple[Dim, ...] = ()  # the symbolic dimensions, in the order `sizes` holds them

    def to_text(self) -> str:
        lines = [f"buffer b{b.id} {b.name}: {b.dtype}[{b.size}] {b.region}" for b in self.buffers]
        lines += [f"input {io.name} -> b{io.buffer.id}" for io in self.inputs]
        for i, step in enumerate(self.steps):
            args = ", ".join(f"b{b.id}" for b in step.buffers)
            columns = f" <- columns of step {step.source}" if step.source is not None else ""
            lines.append(f"step {i} [{step.name}] ({args}) {K.spec_text(step.spec)}{columns}")
        lines += [f"output {io.name} <- b{io.buffer.id}" for io in self.outputs]
        return "\n".join(lines) + "\n"


def lower(graph: Graph, max_binding_bytes: int | None = None, row_pad: int = 0, attention=None) -> Program:
    """Lower every node of `graph` to kernel steps; see the module docstring.

    `max_binding_bytes` (WebGPU's storage binding limit, when WebGPU kernels are wanted)
    splits embedding tables too big to bind at once into row ranges; `row_pad` floats are
    added to constant MatMul rows whose pitch is a multiple of 4 KiB (a WASM cache fact:
    such rows all map to one L1 set). `attention` is the fused attention decision
    (attention.find_attention, computed here when not given). Buffers that no step ends up
    reading are dropped."""
    lowering = Lowering(graph, max_binding_bytes, row_pad, attention)
    for node in graph.nodes:
        lowering.lower_node(node)
    lowering.bind_outputs()
    return drop_unused_buffers(lowering.program)


def drop_unused_buffers(program: Program) -> Program:
    """The program without buffers that no step, input or output uses (a constant whose
    padded, transposed or folded copy replaced it), the rest renumbered in order."""
    used = {b.id for step in program.steps for b in step.buffers}
    used |= {io.buffer.id for io in program.inputs + program.outputs}
    kept = {}
    for b in program.buffers:
        if b.id in used:
            kept[b.id] = replace(b, id=len(kept))
    steps = [replace(step, buffers=tuple(kept[b.id] for b in step.buffers)) for step in program.steps]
    io = lambda items: [replace(x, buffer=kept[x.buffer.id]) for x in items]
    status = kept.get(program.status.id) if program.status is not None else None
    sizes = kept.get(program.sizes.id) if program.sizes is not None else None
    return Program(io(program.inputs), io(program.outputs), list(kept.values()), steps, status, sizes, program.dims)


class Lowering:
    def __init__(self, graph: Graph, max_binding_bytes: int | None = None, row_pad: int = 0, attention=None):
        self.graph = graph
        self.max_binding_bytes = max_binding_bytes
        self.row_pad = row_pad
        self.producer = graph.producer()
        self.consumers = graph.consumers()
        self.program = Program(inputs=[], outputs=[], buffers=[])
        self.views: dict[str, View] = {}
        self.constant_buffers: dict[str, Buffer] = {}
        matches = find_attention(graph) if attention is None else attention
        self.attention = {m.output: m for m in matches}
        self.absorbed = {name for m in self.attention.values() for name in m.nodes}
        self.fused = self._plan_fusion()
        self.program.dims = graph_dims(graph)
        for name in graph.inputs:
            t = graph.types[name]
            buffer = self.new_buffer(name, device_dtype(t.dtype), t.size)
            self.views[name] = full_view(buffer, t.shape)
            self.program.inputs.append(ModelIO(name, t.dtype, t.shape, buffer))

    # ---- buffers and views -------------------------------------------------------------

    def new_buffer(self, name: str, dtype: str, size: int, region="arena", data=None) -> Buffer:
        extent = size if isinstance(size, Sym) else None  # planned for the greatest size of its range
        buffer = Buffer(len(self.program.buffers), name, dtype, max(upper(size), 1), region, data, extent=extent)
        self.program.buffers.append(buffer)
        return buffer

    def weights(self, name: str, value: np.ndarray, rows: tuple[int, int] | None = None) -> View:
        value = np.asarray(value)
        if value.dtype.kind == "f":
            data = value.astype(np.float32)
        else:
            if value.size and (value.min() < -2**31 or value.max() >= 2**31):
                raise CompileError(f"constant '{name}' holds integers outside the int32 range, which the device cannot represent")
            data = value.astype(np.int32)
        data = np.array(data.reshape(-1) if data.size else np.zeros(1, data.dtype), order="C")
        buffer = Buffer(len(self.program.buffers), name, "f32" if data.dtype == np.float32 else "i32", data.size,
                        "weights", data, rows)
        self.program.buffers.append(buffer)
        return full_view(buffer, value.shape)

    def sizes_buffer(self) -> Buffer:
        """The run's symbolic sizes, one i32 per dimension (the runtime writes them)."""
        if self.program.sizes is None:
            self.program.sizes = self.new_buffer("::sizes", "i32", len(self.program.dims))
        return self.program.sizes

    def symbolic_values(self, name: str, value) -> View:
        """A constant that holds symbolic sizes (shape arithmetic used as data, e.g. an index
        times seq): computed at run time from the sizes, one small kernel per element."""
        names = [d.name for d in self.program.dims]
        first = value.reshape(-1)[0]
        if value.size == 1 and isinstance(first, Sym) and first.terms == (((first.names()[0],), 1),):
            # one dimension's size (a past length added to positions): its entry of the sizes buffer
            return View(self.sizes_buffer(), value.shape, (0,) * value.ndim, names.index(first.names()[0]))
        if value.size > 8:
            raise SymbolicError(f"'{name}' holds {value.size} symbolic sizes used as values; webjit computes at most 8")
        out = full_view(self.new_buffer(name, "i32", value.size), value.shape)
        for i, size in enumerate(value.reshape(-1)):
            expr = _size_expr(size, names)
            args = (K.Arg("i32", len(names)), K.Arg("i32", value.size, output=True))
            spec = K.Elementwise(shape=(), out=K.Access(1, (), i), inputs=tuple(K.Access(0, (), j) for j in range(len(names))),
                                 expr=expr, args=args)
            self.program.steps.append(Step(spec, (self.sizes_buffer(), out.buffer), f"{name}::sizes"))
        return out

    def view(self, name: str) -> View:
        if name in self.views:
            return self.views[name]
        if name in self.graph.constants and self.graph.constants[name].dtype == object:
            self.views[name] = self.symbolic_values(name, self.graph.constants[name])
            return self.views[name]
        if name in self.graph.constants:
            view = self.weights(name, self.graph.constants[name])
            self.views[name] = view
            return view
        raise CompileError(f"internal error: tensor '{name}' was used before it was lowered")

    def contiguous(self, view: View, name: str) -> View:
        """The view itself when it is a whole contiguous buffer, else a fresh contiguous copy."""
        if view.contiguous:
            return view
        if view.buffer.region == "weights" and not is_symbolic(view.shape):
            return self.weights(name, read_constant(view))
        out = full_view(self.new_buffer(name, view.buffer.dtype, view.size), view.shape)
        self.copy(view, out, name)
        return out

    def copy(self, src: View, dst: View, name: str) -> None:
        """dst[idx] = src[idx] (shapes equal; dst may be a strided part of a bigger buffer)."""
        dt = src.buffer.dtype
        args, buffers = args_for([src.buffer], dst.buffer)
        spec = K.Elementwise(shape=dst.shape, out=K.Access(1, dst.strides, dst.offset),
                             inputs=(K.Access(0, src.strides, src.offset),),
                             expr=K.Expr("in", dt, index=0), args=args)
        self.emit(spec, buffers, name)

    def emit(self, spec, buffers, name: str, source: int | None = None) -> int:
        """Append a step; returns its index. A spec with symbolic sizes reads them from the
        program's sizes buffer, bound after its other arguments."""
        if symbolic_fields(spec):
            if "sizes" not in spec.__dataclass_fields__:
                raise SymbolicError(f"'{name}' is a {spec.family} kernel, which webjit does not compile for symbolic "
                                    f"sizes yet ({', '.join(symbolic_fields(spec))} depend on "
                                    f"{', '.join(d.name for d in self.program.dims)})")
            dims = tuple((d.name, d.lo, d.hi) for d in self.program.dims)
            spec = replace(spec, sizes=len(buffers), dims=dims, args=spec.args + (K.Arg("i32", len(dims)),))
            buffers = tuple(buffers) + (self.sizes_buffer(),)
        self.program.steps.append(Step(spec, tuple(buffers), name, source))
        return len(self.program.steps) - 1

    def dtype_of(self, name: str) -> str:
        return device_dtype(self.graph.types[name].dtype)

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.graph.types[name].shape

    def output_view(self, name: str) -> View:
        t = self.graph.types[name]
        view = full_view(self.new_buffer(name, device_dtype(t.dtype), t.size), t.shape)
        self.views[name] = view
        return view

    def const_input(self, node: Node, position: int, what: str):
        name = node.inputs[position] if position < len(node.inputs) else ""
        if not name:
            return None
        if name not in self.graph.constants:
            raise UnsupportedError(f"{node.op} '{node.name}' needs its {what} to be known at compile time, "
                                   "but it depends on model inputs")
        return self.graph.constants[name]

    # ---- dispatch ------------------------------------------------------------------------

    def note_index_range(self, buffer: Buffer, limit: int) -> None:
        """Record that a model input is used as indices into an axis of `limit` entries."""
        for io in self.program.inputs:
            if io.buffer is buffer:
                hi = limit if io.valid_range is None else min(limit, io.valid_range[1])
                io.valid_range = (0, hi)

    def lower_node(self, node: Node) -> None:
        if node.outputs[0] in self.absorbed:
            return  # computed inside the attention kernel of the chain's last MatMul
        if node.outputs[0] in self.attention:
            return lower_attention(self, self.attention[node.outputs[0]])
        if node.op in ("Cast", "CastLike", "Identity") and node.outputs[0] not in self.fused:
            return LOWER["Cast"](self, node)
        if _is_elementwise(node):
            if node.outputs[0] in self.fused:
                return  # built by the consumer that absorbs it
            return self.lower_elementwise_root(node)
        if node.op in ANCHORS:
            if node.outputs[0] in self.fused:
                return
            return lower_anchor(self, node, None)
        rule = LOWER.get(node.op)
        if rule is None:
            raise UnsupportedError(f"{node.op} '{node.name}' on tensors computed at run time is not supported "
                                   "(webjit folds it only when all its inputs are constant)")
        rule(self, node)

    def _plan_fusion(self) -> set[str]:
        """Tensors computed inside the kernel of the elementwise group that reads them.

        A tensor is fused when it has the shape of its consumers' outputs, is not a model
        output, and all its consumers are elementwise nodes of one group (one root). A group
        holds at most one MatMul / Gemm / Conv, whose result becomes its epilogue's `acc`.
        """
        fused: set[str] = set()
        outputs = set(self.graph.outputs)
        changed = True
        while changed:  # fusing downstream can make a multi-consumer tensor fusable
            changed = False
            for node in self.graph.nodes:
                if not _is_elementwise(node) or node.outputs[0] in self.absorbed:
                    continue
                shape = self.shape_of(node.outputs[0])
                for name in dict.fromkeys(node.inputs):
                    producer = self.producer.get(name)
                    if name in fused or producer is None or name in outputs or len(producer.outputs) != 1 \
                            or name in self.attention or name in self.absorbed:
                        continue
                    if self.shape_of(name) != shape:
                        continue
                    if not (_is_elementwise(producer) or producer.op in ANCHORS and self.dtype_of(name) == "f32"):
                        continue
                    users = self.consumers.get(name, [])
                    if not all(_is_elementwise(u) and self.shape_of(u.outputs[0]) == shape
                               and u.outputs[0] not in self.absorbed for u in users):
                        continue
                    roots = {id(self._root(u, fused)) for u in users}
                    if len(roots) != 1:
                        continue
                    fused.add(name)
                    root = self._root(node, fused)
                    anchors = self._anchors(root, fused)
                    int64_root = self.graph.types[root.outputs[0]].dtype == "int64"  # checked ops stay out of tiles
                    too_wide = not anchors and len(self._leaves(root, fused)) > MAX_GROUP_INPUTS
                    if len(anchors) > 1 or anchors and int64_root or too_wide:
                        fused.discard(name)
                        continue
                    changed = True
        return fused

    def _root(self, node: Node, fused: set[str]) -> Node:
        while node.outputs[0] in fused:
            node = self.consumers[node.outputs[0]][0]
        return node

    def _leaves(self, node: Node, fused: set[str], seen=None) -> set[str]:
        """The tensors the kernel of `node`'s group reads (an anchor's operands included)."""
        seen = set() if seen is None else seen
        found = set()
        for name in node.inputs:
            if not name or name in seen:
                continue
            seen.add(name)
            value = self.graph.constants.get(name)
            if name in fused:
                found |= self._leaves(self.producer[name], fused, seen)
            elif value is None or value.size != 1:  # a one-element constant is inlined, not bound
                found.add(name)
        return found

    def _anchors(self, node: Node, fused: set[str], seen=None) -> set[str]:
        seen = set() if seen is None else seen
        found = set()
        for name in node.inputs:
            if name in fused and name not in seen:
                seen.add(name)
                producer = self.producer[name]
                found |= {producer.name} if producer.op in ANCHORS else self._anchors(producer, fused, seen)
        return found

    # ---- elementwise groups ---------------------------------------------------------------

    def build_expr(self, node: Node, group: "Group") -> K.Expr:
        dt = self.dtype_of(node.outputs[0])
        if node.op == "BatchNormalization":
            return self._batchnorm_expr(node, group, dt)
        args = []
        for name in node.inputs[:1] if node.op == "CastLike" else node.inputs:  # CastLike reads only its type
            args.append(self.leaf_expr(name, group) if name else None)
        expr = EXPRESSIONS[node.op](node, args, dt)
        if node.op in ("Cast", "CastLike"):  # to float16 or a narrow integer: round or wrap (dtypes.py)
            expr = narrow_expr(expr, self.graph.types[node.inputs[0]].dtype, self.graph.types[node.outputs[0]].dtype)
        if self.graph.types[node.outputs[0]].dtype == "int64" and expr.op in K.CHECKED:
            # int64 values live in i32 on the device: the kernel stops rather than wrap
            expr = K.Expr(K.CHECKED[expr.op], expr.dtype, expr.args, expr.index, expr.value)
        return expr

    def leaf_expr(self, name: str, group: "Group") -> K.Expr:
        dt = self.dtype_of(name)
        if name in self.fused:
            producer = self.producer[name]
            if producer.op in ANCHORS:
                group.anchor = producer
                return K.Expr("acc", dt)
            return self.build_expr(producer, group)
        value = self.graph.constants.get(name)
        if value is not None and value.size == 1 and value.dtype != object:  # a symbolic size: a runtime value
            v = value.reshape(-1)[0]
            if dt == "i32" and not -2**31 <= int(v) < 2**31:
                raise CompileError(f"constant '{name}' holds an integer outside the int32 range")
            return const(float(v), dt)
        return K.Expr("in", dt, index=group.leaf(self.view(name)))

    def _batchnorm_expr(self, node, group, dt):
        scale, bias, mean, var = (self.const_input(node, i, "parameters") for i in range(1, 5))
        eps = node.attrs.get("epsilon", 1e-5)
        mul = (scale / np.sqrt(var.astype(np.float64) + eps)).astype(np.float32)
        add = (bias - mean * mul).astype(np.float32)
        rank = len(self.shape_of(node.inputs[0]))
        shape = (-1,) + (1,) * (rank - 2)
        mul_view = self.weights(f"{node.name}::scale", mul.reshape(shape))
        add_view = self.weights(f"{node.name}::shift", add.reshape(shape))
        x = self.leaf_expr(node.inputs[0], group)
        m = K.Expr("in", dt, index=group.leaf(mul_view))
        a = K.Expr("in", dt, index=group.leaf(add_view))
        return K.Expr("add", dt, (K.Expr("mul", dt, (x, m)), a))

    def lower_elementwise_root(self, node: Node) -> None:
        shape = self.shape_of(node.outputs[0])
        group = Group(shape)
        expr = self.build_expr(node, group)
        if group.anchor is not None:
            return lower_anchor(self, group.anchor, (node, expr, group))
        out = self.output_view(node.outputs[0])
        inputs = [g.buffer for g in group.leaves]
        args, buffers = args_for(inputs, out.buffer)
        index = {id(b): i for i, b in enumerate(buffers)}
        accesses = tuple(K.Access(index[id(v.buffer)], broadcast_strides(v, shape), v.offset) for v in group.leaves)
        status = None
        if K.has_checked(expr):  # after the output: the flag the WGSL kernel sets on int64 overflow
            if self.program.status is None:
                self.program.status = self.new_buffer("::int64_status", "i32", 1)
            status = len(buffers)
            buffers = buffers + [self.program.status]
            args = args + (K.Arg("i32", 1, output=True),)
        spec = K.Elementwise(shape=shape, out=K.Access(index[id(out.buffer)], row_major(shape)), inputs=accesses,
                             expr=expr, args=args, status=status)
        self.emit(spec, buffers, node.name)

    # ---- views the matrix products read (lower_anchors.py lowers the products) ----------

    def forward(self, view: View, name: str) -> View:
        """The view itself, or a contiguous copy when it walks backwards (a reversed Slice):
        the MatMul kernels read forwards only."""
        return self.contiguous(view, name) if any(s < 0 for s in view.strides) or view.offset < 0 else view


    def fixed_strides(self, view: View, name: str) -> View:
        """The view, or a contiguous copy when a dim it moves along has a symbolic stride (a
        row of [batch, seq, d] taken at one position): MatMul kernels take symbolic rows only."""
        rows = [s for n, s in zip(view.shape[-2:], view.strides[-2:]) if not (isinstance(n, int) and n == 1)]
        return self.contiguous(view, name) if any(isinstance(s, Sym) for s in rows) else view


    def bind_outputs(self) -> None:
        used = {io.buffer.id for io in self.program.inputs}
        for name in self.graph.outputs:
            t = self.graph.types[name]
            view = self.view(name)
            if not view.contiguous or view.buffer.region != "arena" or view.buffer.id in used:
                copy = full_view(self.new_buffer(name, view.buffer.dtype, view.size), view.shape)
                self.copy(view, copy, f"output {name}")
                view = copy
            used.add(view.buffer.id)
            self.program.outputs.append(ModelIO(name, t.dtype, t.shape, view.buffer))


def _is_elementwise(node: Node) -> bool:
    return node.op in EXPRESSIONS or node.op == "BatchNormalization"


class Group:
    """The leaves (buffer reads) of one fused elementwise expression over `shape`."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.leaves: list[View] = []
        self.anchor: Node | None = None

    def leaf(self, view: View) -> int:
        if view not in self.leaves:
            self.leaves.append(view)
        return self.leaves.index(view)




def _size_expr(size, names: list[str]) -> K.Expr:
    """An i32 expression of one size: an int, or a polynomial over the sizes (inputs 0.. in
    `names` order)."""
    if not isinstance(size, Sym):
        return const(float(int(size)), "i32")
    total = None
    for monomial, coef in size.terms:
        term = const(float(coef), "i32")
        for n in monomial:
            term = K.Expr("mul", "i32", (term, K.Expr("in", "i32", index=names.index(n))))
        total = term if total is None else K.Expr("add", "i32", (total, term))
    return total




from .lower_anchors import lower_anchor  # noqa: E402  (it uses Group above)
from .lower_ops import LOWER  # noqa: E402  (the per-op rules use the Lowering class above)
