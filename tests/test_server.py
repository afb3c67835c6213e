import http.client
import os
import urllib.parse

import pytest

from webjit.server import resolve_path, normalise_mounts, serve_folders


@pytest.fixture()
def site(tmp_path):
    runtime = tmp_path / "runtime"
    (runtime / "src").mkdir(parents=True)
    (runtime / "src" / "index.js").write_text("export const x = 1;\n")
    (runtime / "src" / "worker.mjs").write_text("self.onmessage = () => {};\n")
    (runtime / "page").mkdir()
    (runtime / "page" / "index.html").write_text("<!doctype html><p>hi</p>\n")
    bundle = tmp_path / "bundle"
    (bundle / "kernels").mkdir(parents=True)
    (bundle / "manifest.json").write_text('{"format": "webjit-bundle"}')
    (bundle / "kernels" / "k0.wasm").write_bytes(b"\0asm\1\0\0\0")
    (bundle / "weights-0.bin").write_bytes(bytes(range(256)) * 4)
    (bundle / "x.npy").write_bytes(b"\x93NUMPY")
    (bundle / "odd name.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("do not serve")
    mounts = {"/runtime/": runtime, "/bundle": bundle}
    with serve_folders(mounts, redirects={"/": "/runtime/page/"}) as base:
        yield base, tmp_path


def get(base: str, path: str, method: str = "GET"):
    host = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    # putrequest sends the path as written, so traversal attempts reach the server intact.
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_base_url_is_local_with_a_free_port(site):
    base, _ = site
    assert base.startswith("http://127.0.0.1:")
    assert int(base.rsplit(":", 1)[1]) > 0


@pytest.mark.parametrize("path,mime", [
    ("/runtime/src/index.js", "text/javascript"),
    ("/runtime/src/worker.mjs", "text/javascript"),
    ("/bundle/kernels/k0.wasm", "application/wasm"),
    ("/bundle/manifest.json", "application/json"),
    ("/bundle/weights-0.bin", "application/octet-stream"),
    ("/bundle/x.npy", "application/octet-stream"),
    ("/runtime/page/index.html", "text/html"),
])
def test_mime_types(site, path, mime):
    status, headers, _ = get(site[0], path)
    assert status == 200
    assert headers["Content-Type"].split(";")[0] == mime


def test_isolation_and_csp_headers_on_every_response(site):
    base, _ = site
    for path in ("/bundle/manifest.json", "/bundle/missing.bin"):
        _, headers, _ = get(base, path)
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert headers["Content-Security-Policy"] == "script-src 'self' 'wasm-unsafe-eval'"


def test_only_files_named_by_their_sha256_are_cacheable(site):
    import hashlib
    base, root = site
    body = b"weights of a content-addressed shard"
    digest = hashlib.sha256(body).hexdigest()
    (root / "bundle" / f"weights-{digest}.bin").write_bytes(body)
    (root / "bundle" / f"weights-{'0' * 64}.bin").write_bytes(body)  # a name that lies stays no-store
    _, headers, got = get(base, f"/bundle/weights-{digest}.bin")
    assert got == body and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in (f"/bundle/weights-{'0' * 64}.bin", "/bundle/weights-0.bin", "/bundle/manifest.json"):
        _, headers, _ = get(base, path)
        assert headers["Cache-Control"] == "no-store", path


def test_body_is_the_file_bytes(site):
    base, root = site
    status, headers, body = get(base, "/bundle/weights-0.bin")
    assert status == 200
    assert body == (root / "bundle" / "weights-0.bin").read_bytes()
    assert headers["Content-Length"] == str(len(body))


def test_head_sends_headers_only(site):
    status, headers, body = get(site[0], "/bundle/weights-0.bin", method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Length"] == "1024"


def test_query_string_and_percent_encoding(site):
    base, _ = site
    assert get(base, "/bundle/manifest.json?v=3")[0] == 200
    assert get(base, "/bundle/odd%20name.json")[0] == 200


def test_directory_serves_index_html_and_root_redirects(site):
    base, _ = site
    status, _, body = get(base, "/runtime/page/")
    assert status == 200 and b"hi" in body
    status, headers, _ = get(base, "/")
    assert status == 302 and headers["Location"] == "/runtime/page/"


@pytest.mark.parametrize("path", [
    "/bundle/missing.bin", "/nowhere/x.js", "/bundle/kernels/",  # no listings
    "/bundle/../secret.txt", "/bundle/%2e%2e/secret.txt", "/runtime/src/../../secret.txt",
    "/bundle/..%2fsecret.txt", "/bundle/%2e%2e%5csecret.txt", "/bundle/x.npy%00.js",
])
def test_missing_and_traversal_are_404(site, path):
    status, _, body = get(site[0], path)
    assert status == 404
    assert b"do not serve" not in body


def test_favicon_is_no_content_so_pages_log_no_404(site):
    status, _, body = get(site[0], "/favicon.ico")
    assert status == 204 and body == b""


def test_symlink_out_of_a_mount_is_refused(site):
    base, root = site
    os.symlink(root / "secret.txt", root / "bundle" / "link.txt")
    assert get(base, "/bundle/link.txt")[0] == 404


def test_resolve_path_stays_inside_mounts(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.js").write_text("")
    mounts = normalise_mounts({"/a/": tmp_path / "a"})
    assert resolve_path(mounts, "/a/f.js") == (tmp_path / "a" / "f.js").resolve()
    assert resolve_path(mounts, "/a/./f.js") == (tmp_path / "a" / "f.js").resolve()
    assert resolve_path(mounts, "/a/../a/f.js") is None
    assert resolve_path(mounts, "/ab/f.js") is None


def test_missing_mount_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with serve_folders({"/x/": tmp_path / "absent"}):
            pass


def test_a_pages_own_inline_scripts_are_allowed_by_hash(tmp_path):
    import base64
    import hashlib
    importmap, module = b'{"imports": {"webjit": "/runtime/src/index.js"}}', b"\nimport 'webjit';\n"
    (tmp_path / "index.html").write_bytes(b'<script type="importmap">' + importmap + b'</script>'
                                          b'<script src="/app.js"></script><script type="module">' + module +
                                          b'</SCRIPT >')
    (tmp_path / "plain.html").write_bytes(b"<p>no scripts</p>")
    digest = lambda body: f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
    with serve_folders({"/": tmp_path}) as base:
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc)
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        csp = response.getheader("Content-Security-Policy")
        assert csp == f"script-src 'self' 'wasm-unsafe-eval' {digest(importmap)} {digest(module)}"
        connection.request("GET", "/plain.html")
        response = connection.getresponse()
        response.read()
        assert response.getheader("Content-Security-Policy") == "script-src 'self' 'wasm-unsafe-eval'"
