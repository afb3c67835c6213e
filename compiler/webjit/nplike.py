"""numpy where it can be imported (the host), else purenp, its pure-Python stand-in (the page,
where Pyodide has no numpy). The compiler's modules take `np` from here."""
from __future__ import annotations

try:
    import numpy as np
    PURE = False
except ImportError:  # under Pyodide without numpy: the browser path
    from . import purenp as np
    PURE = True

__all__ = ["np", "PURE"]
