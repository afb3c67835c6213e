"""The model zoo: real torchvision and transformers architectures exported to ONNX.

Each architecture is built with random weights (seeded, then perturbed as in models.py) at
two sizes: "small" (small images, 2-layer transformers with hidden 64) for the per-commit
tests, and "full" (the architecture's own configuration and input size) for the slow suite.
Nothing is downloaded. Exports use the legacy exporter at opset 17 with static shapes, are
checked against torch in onnxruntime, and are cached under ~/.cache/webjit/models/v2/zoo-*.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from collections.abc import Callable

import numpy as np

from webjit.errors import ModelError
from webjit.models import (CACHE_VERSION, DEFAULT_CACHE_DIR, RELATIVE_TOLERANCE, SEED, _version,
                           perturb_parameters)

SIZES = ("small", "full")
OPSET = 17
ZOO_VERSION = 1  # bump when an architecture's configuration or inputs change


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One zoo entry: how to build it at a size, and the inputs it is exported and run at."""

    name: str
    source: str  # "torchvision" or "transformers"
    build: Callable[[str], object]  # size -> eval-mode torch module returning a tuple of tensors
    inputs: Callable[[str], dict]  # size -> {name: (kind, shape)}; kinds in _make_input
    outputs: tuple[str, ...]
    small: str  # what "small" means, for docs/models.md
    full: str


def import_torchvision():
    """torchvision, imported so that it loads beside the CPU torch.

    The torchvision wheel here is a CUDA build whose C++ extension cannot load with a CPU
    torch; its import then fails registering fake kernels for the extension's missing ops.
    The model definitions need no extension, so those registrations are skipped during the
    import. transformers imports torchvision too (image_utils), so call this before it.
    """
    import torch
    import torch.library

    register_fake = torch.library.register_fake

    def skip_registration(op, func=None, /, *args, **kwargs):
        return func if func is not None else (lambda function: function)

    torch.library.register_fake = skip_registration
    try:
        import torchvision
    except ImportError as err:
        raise ModelError(f"torchvision is needed for the model zoo ({err}); "
                         "pip install torchvision==0.28.0 (it matches torch 2.13.0).") from None
    finally:
        torch.library.register_fake = register_fake
    return torchvision


def import_transformers():
    """transformers, offline, with torchvision (when installed) imported safely first."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        import_torchvision()
    import transformers
    return transformers


def tuple_outputs(model, select: Callable, keyword_inputs: tuple[str, ...] | None = None, **extra):
    """Wrap model (in eval mode) so forward takes plain tensors and returns the tuple select(result);
    with keyword_inputs the tensors are passed by those names, with extra keyword arguments."""
    import torch

    class TupleOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            if keyword_inputs:
                return tuple(select(self.model(**dict(zip(keyword_inputs, inputs)), **extra)))
            return tuple(select(self.model(*inputs)))

    return TupleOutputs().eval()


# --- torchvision -----------------------------------------------------------------------------

def _torchvision(name: str, segmentation: bool = False):
    """The constructor's own architecture; the small size changes only the image and class count."""
    def build(size: str):
        import torch

        torchvision = import_torchvision()
        torch.manual_seed(SEED)
        family = torchvision.models.segmentation if segmentation else torchvision.models
        kwargs = dict(weights=None)
        if segmentation:
            kwargs.update(weights_backbone=None, aux_loss=False, num_classes=21 if size == "full" else 4)
        else:
            kwargs.update(num_classes=1000 if size == "full" else 10)
        model = getattr(family, name)(**kwargs)
        perturb_parameters(model)
        if segmentation:
            return tuple_outputs(model, lambda out: (out["out"],))
        return tuple_outputs(model, lambda out: (out,))
    return build


def _image(small: int, full: int = 224):
    return lambda size: {"pixel_values": ("image", (1, 3, small if size == "small" else full,
                                                    small if size == "small" else full))}


def _classifier(name, small_image=64):
    return Architecture(name, "torchvision", _torchvision(name), _image(small_image), ("logits",),
                        f"{small_image}x{small_image}, 10 classes", "224x224, 1000 classes")


def _segmenter(name, small_image=64):
    return Architecture(name, "torchvision", _torchvision(name, segmentation=True), _image(small_image, 224),
                        ("out",), f"{small_image}x{small_image}, 4 classes", "224x224, 21 classes")


# --- transformers ----------------------------------------------------------------------------

def _transformers(config_class: str, model_class: str, small: dict, full: dict, select,
                  keyword_inputs: tuple[str, ...], submodule: str | None = None):
    def build(size: str):
        import torch

        transformers = import_transformers()
        torch.manual_seed(SEED)
        overrides = dict(small if size == "small" else full)
        for key, value in list(overrides.items()):
            if isinstance(value, tuple) and value and value[0] == "config":  # a nested config
                overrides[key] = getattr(transformers, value[1])(**value[2])
        # Eager attention exports as plain MatMul/Softmax, as in models.py.
        config = getattr(transformers, config_class)(**overrides, attn_implementation="eager")
        model = getattr(transformers, model_class)(config)
        if submodule:
            model = getattr(model, submodule)
        perturb_parameters(model)
        return tuple_outputs(model, select, keyword_inputs, return_dict=False)
    return build


def _text(seq_small=16, seq_full=128, types=False):
    def inputs(size):
        seq = seq_small if size == "small" else seq_full
        named = {"input_ids": ("tokens", (1, seq)), "attention_mask": ("mask", (1, seq))}
        if types:
            named["token_type_ids"] = ("types", (1, seq))
        return named
    return inputs


def _first(count=1):
    return lambda out: out[:count]


TINY = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128)
TINY_TEXT = dict(TINY, vocab_size=1000, max_position_embeddings=64)


def _text_model(name, config_class, model_class, small, full, types=False, outputs=1,
                output_names=("last_hidden_state",), submodule=None, seq_full=128):
    inputs = _text(seq_full=seq_full, types=types)
    keywords = tuple(inputs("small"))
    return Architecture(name, "transformers",
                        _transformers(config_class, model_class, small, full, _first(outputs), keywords,
                                      submodule),
                        inputs, output_names[:outputs], f"{_describe(small)}, seq 16",
                        f"{_describe(full)}, seq {seq_full}")


def _describe(config: dict) -> str:
    if not config:
        return "default config"
    return ", ".join(f"{k}={v[1] if isinstance(v, tuple) and v and v[0] == 'config' else v}"
                     for k, v in config.items())


def _vision_model(name, config_class, model_class, small, full, image_small, image_full,
                  output_names=("last_hidden_state",)):
    def inputs(size):
        side = image_small if size == "small" else image_full
        return {"pixel_values": ("image", (1, 3, side, side))}
    keywords = tuple(inputs("small"))
    return Architecture(name, "transformers",
                        _transformers(config_class, model_class, small, full, _first(len(output_names)),
                                      keywords),
                        inputs, output_names, f"{_describe(small)}, {image_small}x{image_small}",
                        f"{_describe(full)}, {image_full}x{image_full}")


WHISPER_SMALL = dict(d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
                     decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128, max_source_positions=32)
WAV2VEC2_SMALL = dict(TINY, conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2),
                      num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, vocab_size=32)
ALBERT_BASE = dict(embedding_size=128, hidden_size=768, num_attention_heads=12, intermediate_size=3072)
SMALL_RESNET = ("config", "ResNetConfig", dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                                               depths=[1, 1, 1, 1], layer_type="bottleneck",
                                               out_features=["stage4"]))
FULL_RESNET = ("config", "ResNetConfig", dict(out_features=["stage4"]))
DETR_COMMON = dict(use_timm_backbone=False, use_pretrained_backbone=False)


def _audio(kind, small_shape, full_shape, name):
    return lambda size: {name: (kind, small_shape if size == "small" else full_shape)}


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in [
    _classifier("mobilenet_v3_small"),
    _classifier("mobilenet_v3_large"),
    _classifier("efficientnet_b0"),
    _classifier("convnext_tiny"),
    _classifier("regnet_y_400mf"),
    _classifier("shufflenet_v2_x1_0"),
    _classifier("squeezenet1_1"),
    _classifier("densenet121"),
    _classifier("swin_t"),
    _segmenter("deeplabv3_mobilenet_v3_large"),
    _segmenter("lraspp_mobilenet_v3_large"),
    _segmenter("fcn_resnet50"),
    _text_model("distilbert", "DistilBertConfig", "DistilBertModel",
                dict(n_layers=2, dim=64, n_heads=2, hidden_dim=128, vocab_size=1000, max_position_embeddings=64),
                {}),
    _text_model("roberta", "RobertaConfig", "RobertaModel", dict(TINY_TEXT, max_position_embeddings=66), {},
                outputs=2, output_names=("last_hidden_state", "pooler_output")),
    _text_model("albert", "AlbertConfig", "AlbertModel", dict(TINY_TEXT, embedding_size=32), ALBERT_BASE,
                types=True, outputs=2, output_names=("last_hidden_state", "pooler_output")),
    _text_model("t5_encoder", "T5Config", "T5EncoderModel",
                dict(d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2, vocab_size=1000), {}),
    Architecture("whisper_tiny_encoder", "transformers",
                 _transformers("WhisperConfig", "WhisperModel", WHISPER_SMALL, {}, _first(), ("input_features",),
                               submodule="encoder"),
                 _audio("features", (1, 80, 64), (1, 80, 3000), "input_features"), ("last_hidden_state",),
                 _describe(WHISPER_SMALL) + ", 64 frames", "whisper-tiny encoder (default config), 3000 frames"),
    Architecture("wav2vec2", "transformers",
                 _transformers("Wav2Vec2Config", "Wav2Vec2Model", WAV2VEC2_SMALL, {}, _first(), ("input_values",)),
                 _audio("audio", (1, 1600), (1, 16000), "input_values"), ("last_hidden_state",),
                 _describe(WAV2VEC2_SMALL) + ", 1600 samples", "wav2vec2-base (default config), 16000 samples"),
    _text_model("clip_text", "CLIPTextConfig", "CLIPTextModel", dict(TINY_TEXT, max_position_embeddings=77), {},
                outputs=2, output_names=("last_hidden_state", "pooler_output"), seq_full=77),
    _vision_model("clip_vision", "CLIPVisionConfig", "CLIPVisionModel", dict(TINY, image_size=32, patch_size=8), {},
                  32, 224, ("last_hidden_state", "pooler_output")),
    _vision_model("segformer", "SegformerConfig", "SegformerForSemanticSegmentation",
                  dict(hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 2],
                       decoder_hidden_size=32, num_labels=4), dict(num_labels=150), 64, 512, ("logits",)),
    _vision_model("convnext", "ConvNextConfig", "ConvNextModel",
                  dict(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1]), {}, 64, 224,
                  ("last_hidden_state", "pooler_output")),
    _vision_model("mobilevit", "MobileViTConfig", "MobileViTModel",
                  dict(image_size=64, hidden_sizes=[32, 40, 48], neck_hidden_sizes=[8, 8, 16, 24, 32, 40, 160],
                       expand_ratio=2.0, num_attention_heads=2), {}, 64, 256,
                  ("last_hidden_state", "pooler_output")),
    _vision_model("detr", "DetrConfig", "DetrModel",
                  dict(DETR_COMMON, backbone_config=SMALL_RESNET, d_model=64, encoder_layers=2, decoder_layers=2,
                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                       decoder_ffn_dim=128, num_queries=10),
                  dict(DETR_COMMON, backbone_config=FULL_RESNET), 64, 224, ("last_hidden_state",)),
]}
NAMES = tuple(ARCHITECTURES)


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ModelError(f"Unknown zoo architecture {name!r}; pick one of {', '.join(NAMES)}.")
    return ARCHITECTURES[name]


def example_inputs(name: str, size: str = "small", seed: int = SEED) -> dict[str, np.ndarray]:
    """Deterministic valid inputs for the architecture at this size."""
    rng = np.random.default_rng(seed)
    return {input_name: _make_input(rng, kind, shape)
            for input_name, (kind, shape) in architecture(name).inputs(_size(size)).items()}


def _make_input(rng, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    if kind in ("image", "features", "audio"):
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "tokens":  # ids in [3, 1000): valid in every vocabulary here, clear of special ids 0-2
        return rng.integers(3, 1000, size=shape, dtype=np.int64)
    if kind == "mask":
        mask = np.ones(shape, dtype=np.int64)
        mask[:, shape[1] - max(1, shape[1] // 8):] = 0  # a few trailing padding positions
        return mask
    if kind == "types":
        types = np.zeros(shape, dtype=np.int64)
        types[:, shape[1] // 2:] = 1
        return types
    raise AssertionError(kind)


def _size(size: str) -> str:
    if size not in SIZES:
        raise ModelError(f"Unknown size {size!r}; pick 'small' or 'full'.")
    return size


def export(name: str, size: str = "small", cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Path of the architecture's ONNX file at this size, exporting and verifying it on a cache miss."""
    arch = architecture(name)
    key = f"zoo{ZOO_VERSION}-{name}-{_size(size)}-legacy-op{OPSET}"
    folder = pathlib.Path(cache_dir or DEFAULT_CACHE_DIR).expanduser() / CACHE_VERSION / key
    path = folder / "model.onnx"
    if path.exists() and (folder / "export.json").exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    import torch

    model = arch.build(size)
    feeds = example_inputs(name, size)
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    partial = folder / f"model.onnx.{os.getpid()}.tmp"  # another process may export the same key
    started = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(model, args, str(partial), dynamo=False, do_constant_folding=True, opset_version=OPSET,
                          input_names=list(feeds), output_names=list(arch.outputs))
    seconds = time.perf_counter() - started
    errors = _verify(model, partial, feeds, arch.outputs)
    os.replace(partial, path)
    record = {"name": name, "size": size, "export_seconds": round(seconds, 2), "max_relative_error": errors,
              "parameters": int(sum(p.numel() for p in model.parameters())),
              "inputs": {k: list(v.shape) for k, v in feeds.items()},
              "torch": torch.__version__, "torchvision": _version("torchvision"),
              "transformers": _version("transformers")}
    (folder / "export.json").write_text(json.dumps(record, indent=1) + "\n")
    return path


def _verify(model, path: pathlib.Path, feeds: dict, outputs: tuple[str, ...]) -> dict[str, float]:
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)
    with torch.no_grad():
        want = model(*(torch.from_numpy(v) for v in feeds.values()))
    errors = {}
    for output, a, b in zip(outputs, got, want):
        b = b.numpy()
        if a.shape != b.shape:
            raise ModelError(f"Export {path} gives {output} shape {a.shape}, torch gives {b.shape}.")
        errors[output] = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
        if not errors[output] <= RELATIVE_TOLERANCE:
            raise ModelError(f"Export {path} differs from torch by {errors[output]:.2e} (relative) on {output}.")
    return errors
