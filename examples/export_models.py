"""Export webjit's test models to ONNX (cached) and optionally write their op inventory.

    python examples/export_models.py --all                     # every model, exporter, opset; small and full
    python examples/export_models.py --model bert --size small --exporter dynamo --opset 18
    python examples/export_models.py --all --size small --ops /tmp/ops.md

Prints one line per export with its path and the export wall time recorded when
it was made (cached exports print the original time).
"""
from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time

import onnx
from onnx import helper, numpy_helper

from webjit import models

INT_TYPES = {onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32", onnx.TensorProto.BOOL: "bool"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--all", action="store_true", help="all models, exporters and opsets")
    parser.add_argument("--model", action="append", choices=models.MODEL_NAMES)
    parser.add_argument("--exporter", action="append", choices=models.EXPORTERS)
    parser.add_argument("--opset", action="append", type=int, choices=models.OPSETS)
    parser.add_argument("--size", choices=("small", "full", "both"), default=None,
                        help="default: both with --all, full otherwise")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--image", type=int, default=None, help="image side; default: the variant's own")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--ops", metavar="FILE", help="write the op inventory (markdown) of these exports")
    args = parser.parse_args(argv)
    if not (args.all or args.model):
        parser.error("name a --model or pass --all")
    return args


def variants(args):
    names = args.model or models.MODEL_NAMES
    exporters = args.exporter or models.EXPORTERS
    opsets = args.opset or models.OPSETS
    size = args.size or ("both" if args.all else "full")
    sizes = ("small", "full") if size == "both" else (size,)
    for size in sizes:
        for name in names:
            for exporter in exporters:
                for opset in opsets:
                    yield dict(name=name, size=size, exporter=exporter, opset=opset)


def export_all(args) -> list[tuple[dict, pathlib.Path]]:
    done = []
    for variant in variants(args):
        started = time.perf_counter()
        path = models.export_model(**variant, seq=args.seq, batch=args.batch, image=args.image,
                                   cache_dir=args.cache_dir)
        record = models.export_record(path)
        took = time.perf_counter() - started
        print(f"{variant['name']:9s} {variant['size']:5s} {variant['exporter']:6s} op{variant['opset']} "
              f"export {record['export_seconds']:7.2f} s  dynamic={record['dynamic']}  "
              f"(this run {took:6.2f} s)  {path}", flush=True)
        done.append((variant, path))
    return done


def op_name(node) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def attribute_text(node, constants) -> str:
    """Attributes plus the constant inputs that act as attributes (Slice steps, Reduce axes)."""
    parts = []
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value).tolist() if numpy_helper.to_array(value).size <= 4 else "tensor"
        elif isinstance(value, bytes):
            value = value.decode()
        parts.append(f"{attribute.name}={value}")
    if node.op_type == "Slice" and len(node.input) > 4:
        parts.append(f"steps={constants.get(node.input[4], 'computed')}")
    if node.op_type in ("ReduceMean", "ReduceSum", "Squeeze", "Unsqueeze") and len(node.input) > 1:
        parts.append(f"axes={constants.get(node.input[1], 'computed')}")
    if node.op_type == "Split" and len(node.input) > 1:
        parts.append(f"split={constants.get(node.input[1], 'computed')}")
    return ", ".join(sorted(parts))


def inventory(path: pathlib.Path):
    """(op types, {op: set of attribute texts}, {op: set of integer output dtypes}) of one model."""
    model = onnx.load(str(path))
    inferred = onnx.shape_inference.infer_shapes(model)
    dtypes = {v.name: v.type.tensor_type.elem_type for v in
              list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)}
    dtypes.update({i.name: i.data_type for i in model.graph.initializer})
    constants = {i.name: numpy_helper.to_array(i).tolist() for i in model.graph.initializer
                 if numpy_helper.to_array(i).size <= 8}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            array = numpy_helper.to_array(node.attribute[0].t)
            if array.size <= 8:
                constants[node.output[0]] = array.tolist()
    ops, attributes, int_outputs = set(), collections.defaultdict(set), collections.defaultdict(set)
    for node in model.graph.node:
        name = op_name(node)
        ops.add(name)
        if node.op_type != "Constant":
            attributes[name].add(attribute_text(node, constants))
        for output in node.output:
            if dtypes.get(output) in INT_TYPES:
                int_outputs[name].add(INT_TYPES[dtypes[output]])
    return ops, attributes, int_outputs


def write_inventory(done, target: pathlib.Path):
    lines = ["| model | size | exporter | opset | nodes | op types |", "|---|---|---|---|---|---|"]
    union, all_attributes, all_ints, used_by = set(), collections.defaultdict(set), collections.defaultdict(set), \
        collections.defaultdict(set)
    for variant, path in done:
        ops, attributes, ints = inventory(path)
        nodes = len(onnx.load(str(path), load_external_data=False).graph.node)
        lines.append(f"| {variant['name']} | {variant['size']} | {variant['exporter']} | {variant['opset']} | "
                     f"{nodes} | {' '.join(sorted(ops))} |")
        union |= ops
        for op in ops:
            used_by[op].add(f"{variant['name']}/{variant['exporter']}")
        for op, texts in attributes.items():
            all_attributes[op] |= texts
        for op, kinds in ints.items():
            all_ints[op] |= kinds
    lines += ["", f"Union ({len(union)} op types):", "", "```", " ".join(sorted(union)), "```", "",
              "| op | used by | integer/bool outputs | distinct attributes (and constant attribute-like inputs) |",
              "|---|---|---|---|"]
    for op in sorted(union):
        texts = sorted(all_attributes[op], key=len)
        shown = "; ".join(f"`{t}`" if t else "(none)" for t in texts[:8])
        more = f" ... ({len(texts)} forms)" if len(texts) > 8 else ""
        lines.append(f"| {op} | {', '.join(sorted(used_by[op]))} | {', '.join(sorted(all_ints[op])) or '-'} | "
                     f"{shown}{more} |")
    target.write_text("\n".join(lines) + "\n")
    print(f"wrote {target}")


def main(argv=None) -> int:
    args = parse_args(argv)
    done = export_all(args)
    if args.ops:
        write_inventory(done, pathlib.Path(args.ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
