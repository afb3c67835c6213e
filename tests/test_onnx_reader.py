"""webjit's pure-Python ONNX reader (onnx_reader.py) against onnx's own: the same schema (field
numbers, names, kinds), and the same value in every field of every model the suite uses (the
test models, every exported model in the cache, ONNX's backend node cases, the fuzz findings)."""
from __future__ import annotations

import math
import struct
from pathlib import Path

import onnx
import pytest
from onnx.backend.test.case.node import collect_testcases

from webjit.errors import ModelError
from webjit.models import DEFAULT_CACHE_DIR, DECODER_NAMES, MODEL_NAMES, export_model
from webjit.onnx_reader import NOT_READ, SCHEMA, read_model

NESTED = {"Segment": onnx.TensorProto.Segment, "Dimension": onnx.TensorShapeProto.Dimension,
          "TypeTensor": onnx.TypeProto.Tensor, "TypeSequence": onnx.TypeProto.Sequence, "TypeMap": onnx.TypeProto.Map,
          "TypeOptional": onnx.TypeProto.Optional, "TypeSparseTensor": onnx.TypeProto.SparseTensor,
          "TypeOpaque": onnx.TypeProto.Opaque}
KINDS = {1: "double", 2: "float", 3: "varint", 4: "uvarint", 5: "varint", 8: "bool", 9: "string", 12: "bytes",
         14: "varint"}


def descriptor(kind: str):
    return (NESTED.get(kind) or getattr(onnx, kind)).DESCRIPTOR


@pytest.mark.parametrize("kind", sorted(SCHEMA))
def test_the_schema_is_onnx_protos(kind):
    fields = SCHEMA[kind]
    theirs = {f.number: f for f in descriptor(kind).fields if f.name not in NOT_READ.get(kind, ())}
    assert sorted(theirs) == sorted(fields)
    for number, f in theirs.items():
        name, field_kind, repeated = fields[number]
        assert (name, repeated) == (f.name, f.is_repeated)
        if f.type == f.TYPE_MESSAGE:
            assert descriptor(field_kind).full_name == f.message_type.full_name
        else:
            assert field_kind == KINDS[f.type], name


def same(a, b) -> bool:
    if isinstance(a, float):  # float32 fields: equal bit for bit, nan included
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


def compare(proto, message, where: str) -> None:
    """Every field onnx reads from the file has the same value in webjit's message, and webjit's
    sets no other."""
    kind = message._kind
    set_fields = [(f, v) for f, v in proto.ListFields() if f.name not in NOT_READ.get(kind, ())]
    assert sorted(f.name for f, _ in set_fields) == sorted(message.ListFields()), where
    for f, value in set_fields:
        mine = getattr(message, f.name)
        at = f"{where}.{f.name}"
        if f.type == f.TYPE_MESSAGE:
            if f.is_repeated:
                assert len(value) == len(mine), at
                for i, (a, b) in enumerate(zip(value, mine)):
                    compare(a, b, f"{at}[{i}]")
            else:
                compare(value, mine, at)
        elif f.is_repeated:
            assert len(value) == len(mine) and all(same(a, b) for a, b in zip(value, mine)), at
        else:
            assert same(value, mine), at


def suite_models() -> list[Path]:
    for name in MODEL_NAMES + DECODER_NAMES:
        export_model(name, size="small", seq=16)
    return sorted(Path(DEFAULT_CACHE_DIR).expanduser().rglob("*.onnx"))


def test_exported_models_read_alike():
    """The test models (small; minilm is the real 90 MB one) and every other export in the cache
    (the architecture zoo's, full sizes, where earlier tests made them)."""
    paths = suite_models()
    assert len(paths) >= len(MODEL_NAMES + DECODER_NAMES)
    for path in paths:
        data = path.read_bytes()
        compare(onnx.load_from_string(data), read_model(data), path.parent.name)


def test_node_cases_and_fuzz_findings_read_alike():
    cases = collect_testcases(None)
    assert len(cases) > 1000
    for case in cases:
        compare(case.model, read_model(case.model.SerializeToString()), case.name)
    findings = sorted((Path(__file__).parent / "fuzz_cases").glob("*/model.onnx"))
    assert findings
    for path in findings:
        compare(onnx.load(path), read_model(path.read_bytes()), path.parent.name)


@pytest.mark.parametrize("data", [b"\x0a\x05abc", b"\x08" + b"\xff" * 11, b"\x3a\x02\x0a\x7f", b"\x0f"])
def test_malformed_bytes_are_one_sentence(data):
    with pytest.raises(ModelError, match=r"^the file is not a readable ONNX model \(.+\)$"):
        read_model(data)
