"""Model inputs for `webjit run`: checks the ones a user gives, invents valid ones for the rest.

Invented inputs are deterministic (seeded per input name, so giving one input never changes
the others) and valid for what the input usually is: floats are N(0, 1), integers used as
indices are uniform in the manifest's `valid_range`, other integers are ones (masks), and
booleans are True.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from webjit.errors import RunError

ONNX_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64,
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_,
}
# Pairs a given array may arrive as and be converted from without losing meaning.
INTEGER_WIDTHS = {("int32", "int64"), ("int64", "int32")}


def numpy_dtype(dtype: str) -> np.dtype:
    if dtype not in ONNX_DTYPES:
        raise RunError(f"the bundle declares an input of dtype {dtype!r}, which webjit cannot "
                       "feed; recompile the model")
    return np.dtype(ONNX_DTYPES[dtype])


def shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def make_inputs(manifest: Mapping, given: Mapping[str, np.ndarray],
                seed: int = 0) -> dict[str, np.ndarray]:
    """Every model input, in manifest order: the given arrays checked, the rest invented."""
    specs = {spec["name"]: spec for spec in manifest["inputs"]}
    for name in given:
        if name not in specs:
            raise RunError(f"the model has no input named {name!r}; its inputs are "
                           f"{', '.join(specs) or 'none'}")
    return {name: check_input(spec, given[name]) if name in given else invent_input(spec, seed)
            for name, spec in specs.items()}


def check_input(spec: Mapping, array: np.ndarray) -> np.ndarray:
    """The given array in the manifest's dtype, or a RunError saying what is wrong with it."""
    name, want = spec["name"], numpy_dtype(spec["dtype"])
    array = np.asarray(array)
    shape = tuple(spec["shape"])
    if array.shape != shape:
        raise RunError(f"input {name!r} has shape {shape_text(array.shape)} but the bundle was "
                       f"compiled for {shape_text(shape)}; recompile with "
                       f"--shape {name}={shape_text(array.shape)} or give a matching array")
    got = array.dtype.name
    if got != want.name:
        if (got, want.name) not in INTEGER_WIDTHS:
            raise RunError(f"input {name!r} has dtype {got} but the model expects "
                           f"{want.name}; save it as {want.name}")
        info = np.iinfo(want)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise RunError(f"input {name!r} has values outside the {want.name} range; "
                           f"save it as {want.name}")
        array = array.astype(want)
    check_range(spec, array)
    return np.array(array, order="C")  # ascontiguousarray would turn a 0-d input into 1-d


def check_range(spec: Mapping, array: np.ndarray) -> None:
    if "valid_range" not in spec or not array.size:
        return
    low, high = spec["valid_range"]
    low = min(low, -high)  # indices count from the end when negative
    if array.min() < low or array.max() >= high:
        raise RunError(f"input {spec['name']!r} has values from {array.min()} to {array.max()}, "
                       f"but the model indexes with it and needs values in [{low}, {high})")


def invent_input(spec: Mapping, seed: int) -> np.ndarray:
    dtype = numpy_dtype(spec["dtype"])
    shape = tuple(spec["shape"])
    rng = np.random.default_rng([seed, zlib.crc32(spec["name"].encode())])
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return np.ones(shape, dtype)
    if "valid_range" in spec:
        low, high = spec["valid_range"]
        return rng.integers(low, high, size=shape, dtype=dtype)
    return np.ones(shape, dtype)


def load_npy_inputs(specs: Iterable[str]) -> dict[str, np.ndarray]:
    """Parses ["name=path.npy", ...] (the --input options) and loads each array."""
    arrays = {}
    for text in specs:
        name, sep, path = text.partition("=")
        if not sep or not name or not path:
            raise RunError(f"--input {text!r} must look like NAME=FILE.npy")
        if name in arrays:
            raise RunError(f"input {name!r} is given twice")
        arrays[name] = load_npy(name, Path(path))
    return arrays


def load_npy(name: str, path: Path) -> np.ndarray:
    if not path.is_file():
        raise RunError(f"input file {path} for {name!r} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise RunError(f"input file {path} for {name!r} is not a readable .npy array "
                       f"({str(err).rstrip('.')})") from None
