"""webjit's compiler as the wheel a page installs into Pyodide (compileInBrowser): the
installed package's Python modules in a py3-none-any wheel, built from what is installed, so
a checkout and a pip install serve the same thing. Made here with zipfile rather than by
pip: pip builds wheels from a source tree, and an installed webjit has none. The JS runtime
folder the package carries (runtime_web) is left out: the page has its own.
"""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

from . import __version__

PACKAGE = Path(__file__).resolve().parent
WHEEL_NAME = f"webjit-{__version__}-py3-none-any.whl"
DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same modules make the same wheel, byte for byte


def page_wheel() -> bytes:
    """The wheel's bytes: every .py file of the package, with METADATA, WHEEL and RECORD."""
    files = {f"webjit/{path.relative_to(PACKAGE).as_posix()}": path.read_bytes()
             for path in sorted(PACKAGE.rglob("*.py")) if "runtime_web" not in path.relative_to(PACKAGE).parts
             and "__pycache__" not in path.parts}
    info = f"webjit-{__version__}.dist-info"
    files[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: webjit\nVersion: {__version__}\n"
                                 "Summary: webjit's compiler, for Pyodide (no dependencies: numpy and onnx are "
                                 "optional there)\n").encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: webjit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return out.getvalue()


def write_page_wheel(folder) -> Path:
    """Write the wheel into `folder` as webjit.whl (the name compileInBrowser asks for by
    default) and under its proper name; returns the first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = page_wheel()
    (folder / WHEEL_NAME).write_bytes(data)
    (folder / "webjit.whl").write_bytes(data)
    return folder / "webjit.whl"


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
