"""Control flow at import: If, Loop and Scan become the nodes of their bodies.

Shapes are static, so an If's condition and a Loop's trip count are known once the shape
arithmetic before them is folded, and a Scan's sequence length is a dimension: the taken
branch is inlined, and a loop or scan is unrolled, one renamed copy of its body per
iteration. Each copied node is imported, decomposed, typed and folded like any node, so a
body's shape arithmetic folds per iteration too. An If whose condition is only known at run
time runs both branches and selects each output with a Where; a Loop whose trip count or
condition is only known at run time is refused in one sentence naming the value to bind.
"""
from __future__ import annotations

from types import SimpleNamespace

from .errors import UnsupportedError
from .ir import Graph, Node, TensorType
from .nplike import np

try:
    import onnx
except ImportError:  # the browser path: no ONNX function bodies (function_body answers None)
    onnx = None

CONTROL_FLOW = ("If", "Loop", "Scan")
MAX_ITERATIONS = 4096  # unrolled copies of one body; more would make an absurd bundle
SCOPE = "::scope"  # a nested control-flow node's attribute: its enclosing body's renames


def inline_control_flow(node: Node, graph: Graph, opset: int, add) -> None:
    """Add the nodes `node` stands for to `graph`; `add(graph, node, opset)` adds one node as import does."""
    inline = {"If": _if, "Loop": _loop, "Scan": _scan8 if opset < 9 else _scan}[node.op]
    inline(node, graph, opset, add, node.attrs.get(SCOPE, {}))


def _if(node, graph, opset, add, scope):
    cond = node.inputs[0]
    if cond not in graph.constants:
        return _select(node, graph, opset, add, scope)
    taken = "then_branch" if bool(np.asarray(graph.constants[cond]).reshape(-1)[0]) else "else_branch"
    results = _inline_body(node.attrs[taken], [], graph, f"{node.name}::{taken[:4]}", opset, add, scope)
    _bind_outputs(node, results, graph, opset, add)


def _select(node, graph, opset, add, scope):
    """A condition known only at run time: both branches run, a Where picks each output
    (sound since branches have no side effects; their outputs must agree in type)."""
    cond = node.inputs[0]
    if graph.types[cond].size != 1:
        raise UnsupportedError(f"If '{node.name}' has a condition of {graph.types[cond].size} elements; ONNX wants one")
    then = _inline_body(node.attrs["then_branch"], [], graph, f"{node.name}::then", opset, add, scope)
    other = _inline_body(node.attrs["else_branch"], [], graph, f"{node.name}::else", opset, add, scope)
    flag = f"{node.name}::flag"
    add(graph, Node("Reshape", flag, (cond, _const(graph, f"{flag}::shape", np.zeros(0, np.int64))), (flag,)), opset)
    for out, a, b in zip(node.outputs, then, other):
        if not out:
            continue
        if graph.types[a] != graph.types[b]:
            raise UnsupportedError(f"If '{node.name}' takes its branch at run time, and its output '{out}' is "
                                   f"{graph.types[a]} in one branch but {graph.types[b]} in the other; webjit needs "
                                   f"them alike, or a condition known at compile time{_binding_hint(cond, graph)}")
        add(graph, Node("Where", f"{node.name}::{out}", (flag, a, b), (out,)), opset)


def _binding_hint(cond: str, graph: Graph) -> str:
    if cond not in graph.inputs:
        return ""
    if cond == "use_cache_branch":  # optimum's merged decoders
        return (": this is a merged decoder, so bind --const use_cache_branch=1 (constants= in Python); its cache "
                "branch runs the first step too, on an empty past (past_sequence 0), as session.generate does")
    return f": bind input '{cond}' with --const {cond}=1 or =0 (constants= in Python)"


def _loop(node, graph, opset, add, scope):
    body = node.attrs["body"]
    inputs = list(node.inputs) + [""] * (2 - min(len(node.inputs), 2))
    trip, cond, carried = inputs[0], inputs[1], inputs[2:]
    why = "webjit unrolls loops at compile time"
    if trip:
        _need_constant(node, trip, "trip count", graph, why)
    if cond:
        _need_constant(node, cond, "condition", graph, why)
    trips = int(np.asarray(graph.constants[trip]).reshape(-1)[0]) if trip else None
    running = bool(np.asarray(graph.constants[cond]).reshape(-1)[0]) if cond else True
    n = len(carried)
    slices: list[list[str]] = [[] for _ in range(len(body.output) - 1 - n)]
    i = 0
    while running and (trips is None or i < trips):
        if i >= MAX_ITERATIONS or (i == 0 and not cond and (trips is None or trips > MAX_ITERATIONS)):
            raise UnsupportedError(f"Loop '{node.name}' runs more than {MAX_ITERATIONS} iterations; webjit unrolls "
                                   "loops at compile time and refuses longer ones")
        prefix = f"{node.name}::it{i}"
        counter = _const(graph, f"{prefix}::iter", np.array(i, np.int64))
        flag = _const(graph, f"{prefix}::cond", np.array(True))
        results = _inline_body(body, [counter, flag, *carried], graph, prefix, opset, add, scope)
        carried = results[1:1 + n]
        for stack, name in zip(slices, results[1 + n:]):
            stack.append(name)
        if cond:  # without a condition input the loop runs its trip count and ignores cond_out
            _need_constant(node, results[0], "condition after an iteration", graph, why)
            running = bool(np.asarray(graph.constants[results[0]]).reshape(-1)[0])
        i += 1
    if slices and i == 0:
        raise UnsupportedError(f"Loop '{node.name}' runs no iteration but has scan outputs, whose shape webjit "
                               "cannot tell without one")
    _bind_outputs(node, carried + [_stack(s, 0, f"{node.name}::scan{j}", graph, opset, add)
                                   for j, s in enumerate(slices)], graph, opset, add)


def _scan(node, graph, opset, add, scope):
    body, m = node.attrs["body"], node.attrs["num_scan_inputs"]
    n = len(node.inputs) - m
    states, scans = list(node.inputs[:n]), list(node.inputs[n:])
    k = len(body.output) - n
    in_axes = node.attrs.get("scan_input_axes", [0] * m)
    in_dirs = node.attrs.get("scan_input_directions", [0] * m)
    out_axes = node.attrs.get("scan_output_axes", [0] * k)
    out_dirs = node.attrs.get("scan_output_directions", [0] * k)
    finals, outputs = _unroll_scan(node, states, scans, in_axes, in_dirs, graph, node.name, opset, add, scope)
    stacked = []
    for j, (axis, direction) in enumerate(zip(out_axes, out_dirs)):
        stacked.append(_stack(outputs[j][::-1] if direction else outputs[j], axis, f"{node.name}::out{j}", graph,
                              opset, add))
    _bind_outputs(node, finals + stacked, graph, opset, add)


def _scan8(node, graph, opset, add, scope):
    """Opset 8: a batch axis first, the sequence axis second, and optional sequence lengths."""
    body, m = node.attrs["body"], node.attrs["num_scan_inputs"]
    lengths, rest = node.inputs[0], list(node.inputs[1:])
    n = len(rest) - m
    k = len(body.output) - n
    dirs = node.attrs.get("directions", [0] * m)
    batch = graph.types[rest[0]].shape[0]
    sequence = graph.types[rest[n]].shape[1]
    if lengths:
        if lengths not in graph.constants or np.any(np.asarray(graph.constants[lengths]) != sequence):
            raise UnsupportedError(f"Scan '{node.name}' has sequence_lens shorter than its inputs' sequence axis "
                                   "(or only known at run time); webjit scans every sequence to its full length")
    finals, outputs = [[] for _ in range(n)], [[] for _ in range(k)]
    for b in range(batch):
        prefix = f"{node.name}::b{b}"
        pick = _const(graph, f"{prefix}::index", np.array(b, np.int64))
        rows = []
        for j, name in enumerate(rest):
            rows.append(f"{prefix}::row{j}")
            add(graph, Node("Gather", f"{prefix}::row{j}", (name, pick), (rows[-1],), {"axis": 0}), opset)
        states, per_step = _unroll_scan(node, rows[:n], rows[n:], [0] * m, dirs, graph, prefix, opset, add, scope)
        for j, name in enumerate(states):
            finals[j].append(name)
        for j, names in enumerate(per_step):
            outputs[j].append(_stack(names, 0, f"{prefix}::out{j}", graph, opset, add))
    _bind_outputs(node, [_stack(names, 0, f"{node.name}::batch{j}", graph, opset, add)
                         for j, names in enumerate(finals + outputs)], graph, opset, add)


def _unroll_scan(node, states, scans, axes, directions, graph, prefix, opset, add, scope):
    """The body once per step: (final state names, per scan output its slices in step order)."""
    axes = [int(axis) % len(graph.types[name].shape) for name, axis in zip(scans, axes)]
    lengths = {graph.types[name].shape[axis] for name, axis in zip(scans, axes)}
    if len(lengths) != 1:
        raise UnsupportedError(f"Scan '{node.name}' has scan inputs of different lengths ({sorted(lengths)})")
    steps = lengths.pop()
    if steps == 0 or steps > MAX_ITERATIONS:
        raise UnsupportedError(f"Scan '{node.name}' scans {steps} steps; webjit unrolls scans of 1 to "
                               f"{MAX_ITERATIONS} steps at compile time")
    body = node.attrs["body"]
    k = len(body.output) - len(states)
    outputs: list[list[str]] = [[] for _ in range(k)]
    for t in range(steps):
        step = f"{prefix}::t{t}"
        slices = []
        for j, (name, axis, direction) in enumerate(zip(scans, axes, directions)):
            index = _const(graph, f"{step}::index{j}", np.array(steps - 1 - t if direction else t, np.int64))
            slices.append(f"{step}::slice{j}")
            add(graph, Node("Gather", slices[-1], (name, index), (slices[-1],), {"axis": axis}), opset)
        results = _inline_body(body, states + slices, graph, step, opset, add, scope)
        states = results[:len(states)]
        for stack, name in zip(outputs, results[len(states):]):
            stack.append(name)
    return states, outputs


def _inline_body(body, bound: list[str], graph: Graph, prefix: str, opset: int, add,
                 scope: dict) -> list[str]:
    """Add one copy of `body` with its inputs bound to `bound`; the names of its outputs."""
    from .frontend import _import_node, _to_array
    env = dict(scope)  # body names -> graph names; a name in neither is the enclosing graph's own
    for value, outer in zip(body.input, bound):
        env[value.name] = outer
    for tensor in body.initializer:
        env[tensor.name] = _const(graph, f"{prefix}::{tensor.name}", _to_array(tensor))
    for i, onode in enumerate(body.node):
        inputs = [env.get(name, name) if name else "" for name in onode.input]
        for name in onode.output:
            if name:
                env[name] = f"{prefix}/{name}"
        renamed = SimpleNamespace(name=f"{prefix}/{onode.name or f'{onode.op_type}_{i}'}", op_type=onode.op_type,
                                  domain=onode.domain, attribute=onode.attribute, input=inputs,
                                  output=[env[name] if name else "" for name in onode.output])
        imported = _import_node(renamed, i, graph)
        if imported is None:
            continue
        if imported.op in CONTROL_FLOW:
            imported = Node(imported.op, imported.name, imported.inputs, imported.outputs, {**imported.attrs, SCOPE: env})
        add(graph, imported, opset)
    return [env.get(value.name, value.name) for value in body.output]


def _bind_outputs(node: Node, results: list[str], graph: Graph, opset: int, add) -> None:
    for out, name in zip(node.outputs, results):
        if out:
            add(graph, Node("Identity", f"{node.name}::{out}", (name,), (out,)), opset)


def _stack(names: list[str], axis: int, out: str, graph: Graph, opset: int, add) -> str:
    """The slices stacked along a new `axis` (negative counts in the stacked rank)."""
    axes = _const(graph, f"{out}::axes", np.array([axis], np.int64))
    pieces = []
    for i, name in enumerate(names):
        pieces.append(f"{out}::{i}")
        add(graph, Node("Unsqueeze", pieces[-1], (name, axes), (pieces[-1],)), opset)
    rank = len(graph.types[pieces[0]].shape)
    add(graph, Node("Concat", out, tuple(pieces), (out,), {"axis": axis % rank}), opset)
    return out


def _const(graph: Graph, name: str, value: np.ndarray) -> str:
    graph.constants[name] = value
    graph.types[name] = TensorType(str(value.dtype), tuple(value.shape))
    return name


def _need_constant(node: Node, name: str, what: str, graph: Graph, why: str) -> None:
    if name in graph.constants:
        return
    if name in graph.inputs:
        raise UnsupportedError(f"{node.op} '{node.name}' takes its {what} from model input '{name}'; {why}: bind it "
                               f"with --const {name}=VALUE")
    sources = _model_inputs_behind(name, graph)
    hint = f": bind it with --const {sources[0]}=VALUE" if sources else ""
    origin = f" from model input '{sources[0]}'" if sources else ""
    raise UnsupportedError(f"{node.op} '{node.name}' takes its {what} from '{name}', which is computed at run "
                           f"time{origin}; {why}{hint}")


def _model_inputs_behind(name: str, graph: Graph) -> list[str]:
    """The model inputs a runtime value is computed from, nearest first."""
    producers, seen, order, todo = graph.producer(), set(), [], [name]
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        if current in graph.inputs:
            order.append(current)
        elif current in producers:
            todo += [i for i in producers[current].inputs if i and i not in graph.constants]
    return order


def function_body(op: str, opset: int, node: Node | None = None, graph: Graph | None = None):
    """ONNX's own definition of `op` as a function of other ops at `opset` (a FunctionProto), or
    None. Without a node, only whether there is one; a context-dependent body needs the node.
    Without the onnx package (in the page) there are no bodies: such ops are unsupported there."""
    if onnx is None:
        return None
    try:
        schema = onnx.defs.get_schema(op, opset, "")
    except onnx.defs.SchemaError:
        return None
    plain = [v for v in schema.function_opset_versions if v <= opset]
    contextual = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
    if not plain and not contextual:
        return None
    if node is None:
        return True
    if plain:
        data = schema.get_function_with_opset_version(max(plain))
    else:
        types = [onnx.helper.make_tensor_type_proto(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(graph.types[name].dtype)),
                                                    graph.types[name].shape).SerializeToString() if name else b""
                 for name in node.inputs]
        data = schema.get_context_dependent_function_with_opset_version(max(contextual), _node_proto(node).SerializeToString(),
                                                                        types)
    function = onnx.FunctionProto()
    function.ParseFromString(data)
    return function if function.node else None


def inline_function(node: Node, graph: Graph, opset: int, add) -> None:
    """An op webjit has no rule for, written as the body ONNX defines it by (its attributes
    substituted); each body node is then imported like any other."""
    function = function_body(node.op, opset, node, graph)
    if function is None:
        raise UnsupportedError(f"{node.op} '{node.name}' is not supported (ONNX defines it by other ops, but not for "
                               "these inputs)")
    from .frontend import _find_unsupported
    missing: dict = {}
    _find_unsupported(onnx.helper.make_graph(list(function.node), node.op, [], []), missing, "", opset)
    if missing:
        raise UnsupportedError(f"{node.op} '{node.name}' is not supported (ONNX defines it by {', '.join(sorted(missing))}, "
                               "which webjit does not support)")
    attrs = {}  # the op's own defaults, the function's, then the node's attributes
    for name, spec in onnx.defs.get_schema(node.op, opset, "").attributes.items():
        if spec.default_value.type != onnx.AttributeProto.UNDEFINED:
            attrs[name] = onnx.AttributeProto()
            attrs[name].CopyFrom(spec.default_value)
            attrs[name].name = name
    attrs.update({a.name: a for a in function.attribute_proto})
    attrs.update({a.name: a for a in _node_proto(node).attribute})
    nodes = []
    for inner in function.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        del copy.attribute[:]
        for attr in inner.attribute:
            if attr.ref_attr_name:
                if attr.ref_attr_name in attrs:
                    value = onnx.AttributeProto()
                    value.CopyFrom(attrs[attr.ref_attr_name])
                    value.name = attr.name
                    copy.attribute.append(value)
            else:
                copy.attribute.append(attr)
        nodes.append(copy)
    body = onnx.helper.make_graph(nodes, node.op, [onnx.helper.make_empty_tensor_value_info(n) for n in function.input],
                                  [onnx.helper.make_empty_tensor_value_info(n) for n in function.output])
    bound = list(node.inputs) + [""] * (len(function.input) - len(node.inputs))
    results = _inline_body(body, bound, graph, f"{node.name}::fn", opset, add, node.attrs.get(SCOPE, {}))
    _bind_outputs(node, results, graph, opset, add)


def _node_proto(node: Node):
    attrs = {k: onnx.numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
             for k, v in node.attrs.items() if k != SCOPE}
    return onnx.helper.make_node(node.op, list(node.inputs), list(node.outputs), name=node.name, **attrs)
