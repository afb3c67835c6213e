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
    return "x".join(size_text(d) for d in shape) if len(shape) else "scalar"


def size_text(d) -> str:
    """A manifest dimension as text: 128, seq, 384*seq."""
    if not isinstance(d, dict):
        return str(d)
    parts = ["*".join(([str(c)] if c != 1 or not names else []) + names) for c, names in d["sym"]]
    return "+".join(parts).replace("+-", "-")


def size_value(d, env: Mapping[str, int]) -> int:
    """A manifest dimension's value when the symbolic dimensions are `env`."""
    if not isinstance(d, dict):
        return int(d)
    total = 0
    for c, names in d["sym"]:
        for n in names:
            c *= env[n]
        total += c
    return total


def bind_dims(manifest: Mapping, given: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> dict[str, int]:
    """The size of every symbolic dimension of a bundle: from `dims` (--dim) and the shapes of
    the given arrays, each checked against the dimension's range."""
    declared = {d["name"]: d for d in manifest.get("dims", [])}
    unknown = sorted(set(dims) - set(declared))
    if unknown:
        named = ", ".join(declared) or "none"
        raise RunError(f"--dim names {', '.join(unknown)}, which the bundle does not have as a symbolic "
                       f"dimension (it has {named})")
    env, source = dict(dims), {n: f"--dim {n}={v}" for n, v in dims.items()}
    for spec in manifest["inputs"]:
        if spec["name"] not in given:
            continue
        array = np.asarray(given[spec["name"]])
        for axis, d in enumerate(spec["shape"]):
            if isinstance(d, dict) and len(d["sym"]) == 1 and d["sym"][0][0] == 1 and len(d["sym"][0][1]) == 1 \
                    and axis < array.ndim:
                name = d["sym"][0][1][0]
                if name in env and env[name] != array.shape[axis]:
                    raise RunError(f"input {spec['name']!r} makes dimension {name!r} {array.shape[axis]}, but "
                                   f"{source[name]} makes it {env[name]}")
                env.setdefault(name, int(array.shape[axis]))
                source.setdefault(name, f"input {spec['name']!r}")
    for name, d in declared.items():
        if name not in env:
            raise RunError(f"the bundle has the symbolic dimension {name!r} ({d['min']}..{d['max']}); give its size "
                           f"with --dim {name}=N or give the inputs that have it")
        if not d["min"] <= env[name] <= d["max"]:
            raise RunError(f"{source[name]} is outside the range {d['min']}..{d['max']} the bundle was compiled "
                           f"for dimension {name!r}")
    return env


def make_inputs(manifest: Mapping, given: Mapping[str, np.ndarray],
                seed: int = 0, dims: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Every model input, in manifest order: the given arrays checked, the rest invented
    (symbolic dimensions sized by `dims` or by the given arrays)."""
    specs = {spec["name"]: spec for spec in manifest["inputs"]}
    for name in given:
        if name not in specs:
            raise RunError(f"the model has no input named {name!r}; its inputs are "
                           f"{', '.join(specs) or 'none'}")
    if dims and not manifest.get("dims"):
        raise RunError("--dim sizes a bundle's symbolic dimensions, and this bundle has none (its shapes are fixed)")
    env = bind_dims(manifest, given, dims or {}) if manifest.get("dims") else {}
    return {name: check_input(spec, given[name], env) if name in given else invent_input(spec, seed, env)
            for name, spec in specs.items()}


def check_input(spec: Mapping, array: np.ndarray, env: Mapping[str, int] | None = None) -> np.ndarray:
    """The given array in the manifest's dtype, or a RunError saying what is wrong with it."""
    name, want = spec["name"], numpy_dtype(spec["dtype"])
    array = np.asarray(array)
    shape = tuple(size_value(d, env or {}) for d in spec["shape"])
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


def invent_input(spec: Mapping, seed: int, env: Mapping[str, int] | None = None) -> np.ndarray:
    dtype = numpy_dtype(spec["dtype"])
    shape = tuple(size_value(d, env or {}) for d in spec["shape"])
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
