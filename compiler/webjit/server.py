"""A small local HTTP server for bundles and the runtime, cross-origin isolated.

WASM threads need a shared memory, which browsers only give to cross-origin isolated
pages (COOP + COEP headers); the runtime also promises to work under a strict CSP, so
every response carries both. A page's own inline scripts (an import map cannot be a file)
are allowed by their hashes. Only files inside the mounted folders are ever served.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import os
import posixpath
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

from webjit.errors import RunError

ISOLATION_HEADERS = {  # make the page cross-origin isolated: SharedArrayBuffer, so WASM threads
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
SECURITY_HEADERS = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "script-src 'self' 'wasm-unsafe-eval'",
    "X-Content-Type-Options": "nosniff",
    # Bundles are rebuilt in place while a page is open; never serve a stale kernel.
    "Cache-Control": "no-store",
}

MIME_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".bin": "application/octet-stream",
    ".npy": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wgsl": "text/plain; charset=utf-8",
    ".wat": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
DEFAULT_MIME = "application/octet-stream"

# A file whose name carries its own sha256 (64 hex digits) can never change under that name:
# browsers may keep it for a year. Bundle files (weights-0.bin, kernel .wasm) are not named
# by hash and stay no-store; the runtime caches their payloads itself, by the sha256 the
# manifest gives (the Cache API, docs/web.md).
CONTENT_ADDRESSED_CACHE = "public, max-age=31536000, immutable"
_SHA256_NAME = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


def content_addressed(name: str, body: bytes) -> bool:
    """Whether the file name holds the sha256 of `body` (checked, so a misnamed file stays no-store)."""
    match = _SHA256_NAME.search(name.lower())
    return bool(match) and hashlib.sha256(body).hexdigest() == match.group(1)


INLINE_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP sources for the inline scripts of a page (an import map, a module of a few lines):
    the page's own scripts run, and nothing injected does."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
            for attrs, body in INLINE_SCRIPT.findall(html) if b"src=" not in attrs.lower()]


def mime_type(path: str) -> str:
    return MIME_TYPES.get(posixpath.splitext(path)[1].lower(), DEFAULT_MIME)


def normalise_mounts(mounts: Mapping[str, str | os.PathLike]) -> dict[str, Path]:
    """Checks mounts and returns {"/prefix/": resolved folder}, longest prefix first."""
    result = {}
    for prefix, folder in mounts.items():
        if not prefix.startswith("/"):
            raise ValueError(f"mount prefix {prefix!r} must start with '/'")
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"folder {folder} to serve at {prefix} does not exist")
        result[prefix] = root
    return dict(sorted(result.items(), key=lambda item: -len(item[0])))


def resolve_path(mounts: Mapping[str, Path], url_path: str) -> Path | None:
    """The file a URL path names, or None when it is outside every mount."""
    path = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0])
    if "\0" in path or "\\" in path:
        return None
    for prefix, root in mounts.items():
        if not (path + "/").startswith(prefix):
            continue
        parts = [part for part in path[len(prefix):].split("/") if part not in ("", ".")]
        if ".." in parts:
            return None
        candidate = root.joinpath(*parts).resolve()
        # resolve() follows symlinks: refuse anything that ends up outside the mount.
        if candidate != root and root not in candidate.parents:
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None
    return None


def make_handler(mounts: Mapping[str, Path], redirects: Mapping[str, str],
                 log=None, isolated: bool = True) -> type[http.server.BaseHTTPRequestHandler]:
    headers = {**(ISOLATION_HEADERS if isolated else {}), **SECURITY_HEADERS}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "webjit"
        sys_version = ""

        def do_GET(self) -> None:
            self.respond(send_body=True)

        def do_HEAD(self) -> None:
            self.respond(send_body=False)

        def respond(self, send_body: bool) -> None:
            path_only = self.path.split("?", 1)[0]
            if path_only in redirects:
                self.send_status(302, b"", "text/plain", {"Location": redirects[path_only]},
                                 send_body)
                return
            file = resolve_path(mounts, self.path)
            if file is None and path_only == "/favicon.ico":
                # Browsers ask for it unprompted; a 404 would be a console error in every run.
                self.send_status(204, b"", "image/x-icon", {}, False)
                return
            if file is None:
                self.send_status(404, b"not found\n", "text/plain; charset=utf-8", {}, send_body)
                return
            try:
                body = file.read_bytes()
            except OSError:
                self.send_status(404, b"not found\n", "text/plain; charset=utf-8", {}, send_body)
                return
            extra = {"Cache-Control": CONTENT_ADDRESSED_CACHE} if content_addressed(file.name, body) else {}
            if file.suffix.lower() == ".html" and (hashes := inline_script_hashes(body)):
                extra["Content-Security-Policy"] = f"{SECURITY_HEADERS['Content-Security-Policy']} {' '.join(hashes)}"
            self.send_status(200, body, mime_type(file.name), extra, send_body)

        def send_status(self, status: int, body: bytes, content_type: str,
                        extra: Mapping[str, str], send_body: bool) -> None:
            self.send_response(status)
            for name, value in {**headers, **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (base class name)
            if log is not None:
                log(f"{self.address_string()} {format % args}")

    return Handler


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A browser closing a connection mid-transfer is normal, not worth a traceback.
        pass


@contextlib.contextmanager
def serve_folders(mounts: Mapping[str, str | os.PathLike], port: int = 0,
                  redirects: Mapping[str, str] | None = None, log=None,
                  isolated: bool = True, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves `mounts` ({"/prefix/": folder}) on `host` (127.0.0.1 unless given) in a background thread.

    Yields the base URL ("http://127.0.0.1:PORT", no trailing slash); port 0 picks a
    free port. `redirects` maps exact paths to URLs; `log` gets one line per request.
    `isolated=False` leaves out COOP/COEP, as an ordinary host would (no WASM threads).
    Browsers isolate only secure contexts: plain http works on localhost, elsewhere it needs https.
    """
    handler = make_handler(normalise_mounts(mounts), dict(redirects or {}), log, isolated)
    try:
        server = QuietServer((host, port), handler)
    except OSError as err:
        raise RunError(f"cannot listen on {host}:{port} ({err.strerror}); "
                       "choose another port or host") from None
    # A short poll interval makes shutdown (and so every test) quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="webjit-server",
                              daemon=True)
    thread.start()
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    try:
        yield f"http://{shown}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
