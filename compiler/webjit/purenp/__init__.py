"""A pure-Python stand-in for the part of numpy the compiler's browser path uses: n-d arrays of
the ONNX dtypes with numpy's semantics (row-major, broadcasting, NEP 50 type promotion,
float32 rounding on every store), for the page, where Pyodide has no numpy (nplike.py picks).

Written by hand because no numpy can be had in the page, and the compiler needs so little of
it: constants are shape arithmetic (a few elements) or weights (moved, cast and written, at C
speed through `array.array`). A uniform array (every element one value, like a zero-stride
placeholder for shape inference) stores that value once and stays uniform through elementwise
ops, reductions and moves, so shape inference costs no more than the shapes. What is not
here raises AttributeError, which the frontend turns into one sentence.
`tests/test_purenp.py` checks it against numpy.
"""
from __future__ import annotations

from .dtypes import *  # noqa: F401,F403 (the package is the namespace: purenp.float32, purenp.asarray ...)
from .array import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .moves import *  # noqa: F401,F403
