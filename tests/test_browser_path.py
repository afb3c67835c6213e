"""The compiler as a page runs it, under CPython with numpy, onnx, protobuf, onnxruntime and
torch made unimportable (as in Pyodide, which has no numpy): every module the compile path
imports, the ONNX reader and every kernel code generator. A stray import of any of those
packages fails here, not in the page; and what the compiler makes there (kernels, and whole
bundles of every suite model, purenp standing in for numpy) is byte for byte what the host
compiler makes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import webjit.kernels as K
from webjit.targets import WasmTarget, WebgpuTarget
from webjit.browser_bench import BLOCKED, BLOCKING_PRELUDE, run_blocked
from webjit.models import export_model

# Modules beside the wasm and webgpu packages (all of whose modules count).
BROWSER_MODULES = ("webjit.errors", "webjit.family", "webjit.kernels", "webjit.mathconst", "webjit.onnx_reader",
                   "webjit.symbolic", "webjit.targets", "webjit.verify", "webjit.elementwise", "webjit.pipeline",
                   "webjit.browser", "webjit.page_wheel", "webjit.purenp")

SCRIPT = BLOCKING_PRELUDE + r"""
import hashlib, importlib, json, pkgutil
modules, spec_json, model = json.loads(sys.argv[1])
import webjit.wasm, webjit.webgpu
for package in (webjit.wasm, webjit.webgpu):
    modules += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in modules:
    importlib.import_module(name)
from webjit.kernels import spec_from_json
from webjit.onnx_reader import read_model
from webjit.targets import WasmTarget, WebgpuTarget
from webjit.wasm.codegen import default_kernel as wasm_kernel
from webjit.webgpu.codegen import default_kernel as wgsl_kernel
spec = spec_from_json(spec_json)
graph = read_model(open(model, "rb").read()).graph
print(json.dumps({"modules": len(modules), "blocked": [b for b in %r if b in sys.modules],
                  "wasm": hashlib.sha256(wasm_kernel(spec, WasmTarget()).code).hexdigest(),
                  "wgsl": hashlib.sha256(wgsl_kernel(spec, WebgpuTarget()).source.encode()).hexdigest(),
                  "ops": sorted({n.op_type for n in graph.node}), "initializers": len(graph.initializer)}))
""" % (BLOCKED,)


def test_the_compile_path_and_the_code_generators_need_no_numpy(tmp_path):
    import onnx

    from webjit.kernels import spec_to_json
    from webjit.wasm.codegen import default_kernel as wasm_kernel
    from webjit.webgpu.codegen import default_kernel as wgsl_kernel
    epilogue = K.Expr("add", "f32", (K.Expr("acc", "f32"), K.Expr("in", "f32", index=0)))
    spec = K.MatMul(batch=(), m=12, n=40, k=24, a=K.Access(0, (24, 1)), bmat=K.Access(1, (40, 1)),
                    out=K.Access(3, (40, 1)), extras=(K.Access(2, (0, 1)),), epilogue=epilogue,
                    args=(K.Arg("f32", 288), K.Arg("f32", 960), K.Arg("f32", 40), K.Arg("f32", 480, True)))
    model = export_model("gpt2", size="small", seq=16)
    done = run_blocked(SCRIPT, json.dumps([list(BROWSER_MODULES), spec_to_json(spec), str(model)]), timeout=300,
                       cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["modules"] >= 40 and got["blocked"] == []
    assert got["wasm"] == hashlib.sha256(wasm_kernel(spec, WasmTarget()).code).hexdigest()
    assert got["wgsl"] == hashlib.sha256(wgsl_kernel(spec, WebgpuTarget()).source.encode()).hexdigest()
    graph = onnx.load(model).graph
    assert got["ops"] == sorted({n.op_type for n in graph.node}) and got["initializers"] == len(graph.initializer)


COMPILE_SCRIPT = BLOCKING_PRELUDE + r"""
import hashlib, json
from webjit.browser import compile_for_page
from webjit.nplike import PURE
out = {"pure": PURE}
for label, path, request in json.loads(sys.argv[1]):
    answer = compile_for_page(open(path, "rb").read(), json.dumps(request))
    out[label] = answer.get("error") or hashlib.sha256(answer["bundle"]).hexdigest()
out["blocked"] = [b for b in %r if b in sys.modules]
print(json.dumps(out))
""" % (BLOCKED,)

SYMBOLIC = {"batch": 1, "sequence": [1, 128], "past_sequence": [0, 127], "total_sequence": "past_sequence+sequence"}
SUITE = [  # (label, export_model arguments, compile request): every model the suite compiles, both exporters
    *[(f"{name}-{exporter}", dict(name=name, exporter=exporter, opset=17 if exporter == "legacy" else 18),
       {"dims": {"batch": 1, **({"seq": 16} if name in ("bert", "minilm", "gpt2") else {})}})
      for name in ("bert", "minilm", "gpt2", "vit", "resnet50") for exporter in ("legacy", "dynamo")],
    ("gpt2-symbolic", dict(name="gpt2"), {"dims": {"batch": 1, "seq": [1, 16]}}),
    ("gpt2-past", dict(name="gpt2-past"), {"dims": SYMBOLIC}),
    ("gpt2-merged", dict(name="gpt2-merged"), {"dims": SYMBOLIC, "constants": {"use_cache_branch": 1}}),
    ("bert-int8-jit", dict(name="bert"), {"dims": {"batch": 1, "seq": 16}, "weights": "int8", "jit": True}),
]


def test_every_suite_model_compiles_to_the_same_bundle_without_numpy():
    """compile_for_page (the page's entry) with purenp makes the host compiler's bundle, zip and all."""
    from webjit.browser import compile_for_page
    cases = [(label, str(export_model(size="small", **args)), request) for label, args, request in SUITE]
    done = run_blocked(COMPILE_SCRIPT, json.dumps(cases), cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got.pop("pure") is True and got.pop("blocked") == []
    for label, path, request in cases:
        answer = compile_for_page(Path(path).read_bytes(), json.dumps(request))
        assert "error" not in answer, (label, answer.get("error"))
        assert got[label] == hashlib.sha256(answer["bundle"]).hexdigest(), f"{label}: {got[label]}"


REFUSAL_SCRIPT = BLOCKING_PRELUDE + r"""
import json
from webjit.browser import compile_for_page
print(json.dumps(compile_for_page(open(sys.argv[1], "rb").read(), "{}")))
"""


def test_a_fold_purenp_cannot_do_is_one_sentence(tmp_path):
    """Unique on a constant is folded with numpy.unique, which purenp leaves out."""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Unique", ["c"], ["u"], name="uniq"), helper.make_node("Add", ["x", "u"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [helper.make_tensor("c", TensorProto.FLOAT, [3], [1.0, 1.0, 2.0])])
    path = tmp_path / "unique.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    done = run_blocked(REFUSAL_SCRIPT, str(path), timeout=120)
    assert done.returncode == 0, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error.startswith("node 'uniq' (Unique) is computed at compile time with a part of numpy the in-browser "
                            "compiler does not have") and error.endswith("compile this model with the host compiler"), error
