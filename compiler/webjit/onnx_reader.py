"""A pure-Python reader of ONNX model files: the protobuf wire format decoded into light
messages with the field names of ONNX's own (onnx.proto), so that code reading a model can
take either. Needs neither the onnx package's C extension nor numpy nor a protobuf runtime,
which is what the compiler needs to run in the page (under Pyodide, without its numpy).

Written by hand, not generated: the wire format is five encodings, and ONNX's messages are a
fixed schema (SCHEMA below, ONNX's field numbers) read once per model. Tensor payloads stay
`bytes` (raw_data) or lists of numbers; decoding them to arrays is the caller's business.
`tests/test_onnx_reader.py` checks that this reader and onnx's agree on every field of every
model the test suite uses.
"""
from __future__ import annotations

import struct

from .errors import ModelError

# Field kinds: scalar wire decodings, or the name of a message type.
VARINT, SINT64, FLOAT, DOUBLE, STRING, BYTES, BOOL = "varint", "sint64", "float", "double", "string", "bytes", "bool"

# message -> {field number: (name, kind, repeated)}; ONNX's onnx.proto (IR version 10).
SCHEMA: dict[str, dict[int, tuple[str, str, bool]]] = {
    "ModelProto": {1: ("ir_version", VARINT, False), 8: ("opset_import", "OperatorSetIdProto", True),
                   2: ("producer_name", STRING, False), 3: ("producer_version", STRING, False),
                   4: ("domain", STRING, False), 5: ("model_version", VARINT, False),
                   6: ("doc_string", STRING, False), 7: ("graph", "GraphProto", False),
                   14: ("metadata_props", "StringStringEntryProto", True),
                   20: ("training_info", "TrainingInfoProto", True), 25: ("functions", "FunctionProto", True)},
    "OperatorSetIdProto": {1: ("domain", STRING, False), 2: ("version", VARINT, False)},
    "StringStringEntryProto": {1: ("key", STRING, False), 2: ("value", STRING, False)},
    "TrainingInfoProto": {1: ("initialization", "GraphProto", False), 2: ("algorithm", "GraphProto", False),
                          3: ("initialization_binding", "StringStringEntryProto", True),
                          4: ("update_binding", "StringStringEntryProto", True)},
    "FunctionProto": {1: ("name", STRING, False), 4: ("input", STRING, True), 5: ("output", STRING, True),
                      6: ("attribute", STRING, True), 11: ("attribute_proto", "AttributeProto", True),
                      7: ("node", "NodeProto", True), 8: ("doc_string", STRING, False),
                      9: ("opset_import", "OperatorSetIdProto", True), 10: ("domain", STRING, False),
                      13: ("overload", STRING, False), 12: ("value_info", "ValueInfoProto", True),
                      14: ("metadata_props", "StringStringEntryProto", True)},
    "GraphProto": {1: ("node", "NodeProto", True), 2: ("name", STRING, False),
                   5: ("initializer", "TensorProto", True), 15: ("sparse_initializer", "SparseTensorProto", True),
                   10: ("doc_string", STRING, False), 11: ("input", "ValueInfoProto", True),
                   12: ("output", "ValueInfoProto", True), 13: ("value_info", "ValueInfoProto", True),
                   14: ("quantization_annotation", "TensorAnnotation", True),
                   16: ("metadata_props", "StringStringEntryProto", True)},
    "TensorAnnotation": {1: ("tensor_name", STRING, False),
                         2: ("quant_parameter_tensor_names", "StringStringEntryProto", True)},
    "NodeProto": {1: ("input", STRING, True), 2: ("output", STRING, True), 3: ("name", STRING, False),
                  4: ("op_type", STRING, False), 7: ("domain", STRING, False), 8: ("overload", STRING, False),
                  5: ("attribute", "AttributeProto", True), 6: ("doc_string", STRING, False),
                  9: ("metadata_props", "StringStringEntryProto", True)},
    "AttributeProto": {1: ("name", STRING, False), 21: ("ref_attr_name", STRING, False),
                       13: ("doc_string", STRING, False), 20: ("type", VARINT, False), 2: ("f", FLOAT, False),
                       3: ("i", VARINT, False), 4: ("s", BYTES, False), 5: ("t", "TensorProto", False),
                       6: ("g", "GraphProto", False), 22: ("sparse_tensor", "SparseTensorProto", False),
                       14: ("tp", "TypeProto", False), 7: ("floats", FLOAT, True), 8: ("ints", VARINT, True),
                       9: ("strings", BYTES, True), 10: ("tensors", "TensorProto", True),
                       11: ("graphs", "GraphProto", True), 23: ("sparse_tensors", "SparseTensorProto", True),
                       15: ("type_protos", "TypeProto", True)},
    "ValueInfoProto": {1: ("name", STRING, False), 2: ("type", "TypeProto", False), 3: ("doc_string", STRING, False),
                       4: ("metadata_props", "StringStringEntryProto", True)},
    "TensorProto": {1: ("dims", VARINT, True), 2: ("data_type", VARINT, False), 3: ("segment", "Segment", False),
                    4: ("float_data", FLOAT, True), 5: ("int32_data", VARINT, True), 6: ("string_data", BYTES, True),
                    7: ("int64_data", VARINT, True), 8: ("name", STRING, False), 12: ("doc_string", STRING, False),
                    9: ("raw_data", BYTES, False), 13: ("external_data", "StringStringEntryProto", True),
                    14: ("data_location", VARINT, False), 10: ("double_data", DOUBLE, True),
                    11: ("uint64_data", "uvarint", True), 16: ("metadata_props", "StringStringEntryProto", True)},
    "Segment": {1: ("begin", VARINT, False), 2: ("end", VARINT, False)},
    "SparseTensorProto": {1: ("values", "TensorProto", False), 2: ("indices", "TensorProto", False),
                          3: ("dims", VARINT, True)},
    "TensorShapeProto": {1: ("dim", "Dimension", True)},
    "Dimension": {1: ("dim_value", VARINT, False), 2: ("dim_param", STRING, False), 3: ("denotation", STRING, False)},
    "TypeProto": {1: ("tensor_type", "TypeTensor", False), 4: ("sequence_type", "TypeSequence", False),
                  5: ("map_type", "TypeMap", False), 9: ("optional_type", "TypeOptional", False),
                  8: ("sparse_tensor_type", "TypeSparseTensor", False), 7: ("opaque_type", "TypeOpaque", False),
                  6: ("denotation", STRING, False)},
    "TypeOpaque": {1: ("domain", STRING, False), 2: ("name", STRING, False)},
    "TypeTensor": {1: ("elem_type", VARINT, False), 2: ("shape", "TensorShapeProto", False)},
    "TypeSparseTensor": {1: ("elem_type", VARINT, False), 2: ("shape", "TensorShapeProto", False)},
    "TypeSequence": {1: ("elem_type", "TypeProto", False)},
    "TypeOptional": {1: ("elem_type", "TypeProto", False)},
    "TypeMap": {1: ("key_type", VARINT, False), 2: ("value_type", "TypeProto", False)},
}
# onnx.proto's fields this reader skips, as it skips any field it does not know: multi-device
# sharding annotations, which say nothing about what a model computes.
NOT_READ = {"ModelProto": ("configuration",), "NodeProto": ("device_configurations",)}
# message -> {field name: message type} of its singular message fields
_MESSAGE_FIELDS = {kind: {name: k for name, k, repeated in fields.values() if k in SCHEMA and not repeated}
                   for kind, fields in SCHEMA.items()}
_DEFAULTS = {VARINT: 0, "uvarint": 0, SINT64: 0, FLOAT: 0.0, DOUBLE: 0.0, STRING: "", BYTES: b"", BOOL: False}
_WIRE_OF = {VARINT: 0, "uvarint": 0, SINT64: 0, BOOL: 0, FLOAT: 5, DOUBLE: 1}  # the rest: length-delimited
MAX_DEPTH = 64  # nested graphs (If inside Loop ...) deeper than this are refused, not recursed into


class Message:
    """One decoded message: every field of its schema is an attribute (a default when absent,
    a list when repeated; an absent message reads as an empty one, as in protobuf);
    `HasField(name)` tells a set singular field from a default."""

    def __init__(self, kind: str):
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_set", set())
        for name, field_kind, repeated in SCHEMA[kind].values():
            if repeated or field_kind not in SCHEMA:  # absent messages: __getattr__, made when read
                object.__setattr__(self, name, [] if repeated else _DEFAULTS[field_kind])

    def __getattr__(self, name: str):
        kind = _MESSAGE_FIELDS[object.__getattribute__(self, "_kind")].get(name)
        if kind is None:
            raise AttributeError(f"{self._kind} has no field {name}")
        empty = Message(kind)
        object.__setattr__(self, name, empty)
        return empty

    def HasField(self, name: str) -> bool:  # noqa: N802 (protobuf's name)
        return name in self._set

    def ListFields(self) -> list[str]:  # noqa: N802
        """The names of the fields the file set (singular ones set, repeated ones non-empty)."""
        return [name for name, _, repeated in SCHEMA[self._kind].values()
                if (getattr(self, name) if repeated else name in self._set)]

    def __repr__(self) -> str:
        return f"<{self._kind} {', '.join(self.ListFields())}>"


def read_model(data: bytes) -> Message:
    """The ModelProto in `data` (the bytes of an .onnx file); ModelError on malformed bytes."""
    try:
        return _decode(memoryview(data), "ModelProto", 0)
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as err:
        raise ModelError(f"the file is not a readable ONNX model ({err})") from None


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _signed(value: int) -> int:
    """A varint as protobuf's int32/int64 (two's complement in 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode(buf: memoryview, kind: str, depth: int) -> Message:
    if depth > MAX_DEPTH:
        raise ValueError(f"messages nested more than {MAX_DEPTH} deep")
    message, fields, pos = Message(kind), SCHEMA[kind], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        field = fields.get(number)
        if field is None:  # a field this schema does not know: skipped, as protobuf does
            pos = _skip(buf, pos, wire)
            if pos > len(buf):
                raise ValueError("a field runs past the end")
            continue
        name, field_kind, repeated = field
        if wire == 2:
            length, pos = _varint(buf, pos)
            chunk = buf[pos:pos + length]
            if len(chunk) != length:
                raise ValueError("a length-delimited field runs past the end")
            pos += length
            if field_kind in SCHEMA:
                value = _decode(chunk, field_kind, depth + 1)
            elif field_kind == STRING:
                value = str(chunk, "utf-8")
            elif field_kind == BYTES:
                value = bytes(chunk)
            elif repeated:  # a packed run of numbers
                getattr(message, name).extend(_packed(chunk, field_kind))
                message._set.add(name)
                continue
            else:
                raise ValueError(f"field {name} of {kind} has wire type 2")
        else:
            if _WIRE_OF.get(field_kind) != wire:
                raise ValueError(f"field {name} of {kind} has wire type {wire}")
            value, pos = _scalar(buf, pos, field_kind)
        if repeated:
            getattr(message, name).append(value)
        else:
            object.__setattr__(message, name, value)
        message._set.add(name)
    return message


def _scalar(buf: memoryview, pos: int, kind: str):
    if kind == FLOAT:
        return struct.unpack_from("<f", buf, pos)[0], pos + 4
    if kind == DOUBLE:
        return struct.unpack_from("<d", buf, pos)[0], pos + 8
    value, pos = _varint(buf, pos)
    if kind == BOOL:
        return value != 0, pos
    if kind == "uvarint":
        return value, pos
    return _signed(value), pos


def _packed(chunk: memoryview, kind: str) -> list:
    if kind == FLOAT:
        return list(struct.unpack(f"<{len(chunk) // 4}f", chunk))
    if kind == DOUBLE:
        return list(struct.unpack(f"<{len(chunk) // 8}d", chunk))
    values, pos = [], 0
    while pos < len(chunk):
        value, pos = _scalar(chunk, pos, kind)
        values.append(value)
    return values


def _skip(buf: memoryview, pos: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    if wire == 2:
        length, pos = _varint(buf, pos)
        return pos + length
    raise ValueError(f"wire type {wire} (groups are not used by ONNX)")
