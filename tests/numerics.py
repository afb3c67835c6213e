"""The one comparison the tests use: errors relative to the largest magnitude of the reference
(what `webjit run --check` reports), with NaNs where the reference has them."""
from __future__ import annotations

import numpy as np


def relative_error(got, want) -> float:
    """max |got - want| / max |want| over the reference's finite elements (0 when empty); inf
    when the shapes differ or NaNs are not where the reference has them."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return float("inf")
    if want.dtype.kind == "f" and not np.array_equal(np.isnan(got), np.isnan(want)):
        return float("inf")
    finite = ~np.isnan(want) if want.dtype.kind == "f" else np.ones(want.shape, bool)
    g, w = got[finite].astype(np.float64), want[finite].astype(np.float64)
    if not w.size:
        return 0.0
    return float(np.abs(g - w).max() / max(float(np.abs(w).max()), np.finfo(np.float32).tiny))


def assert_close(got, want, tolerance: float, what: str = "output") -> None:
    """AssertionError naming `what` when relative_error(got, want) exceeds `tolerance`."""
    error = relative_error(got, want)
    assert error <= tolerance, f"{what}: relative error {error:.3g} (limit {tolerance:g})"
