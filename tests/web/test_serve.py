"""web/serve.py, the documented way to serve the page: only the page's files, safe headers on every
answer, hostile requests refused, and no client able to hold up the others."""

import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import serve

# Files a checkout of web/ holds, after `npm ci && npm run build` and an export. The page's own are
# served; the rest must not be.
PAGE = {
    "index.html": b"<!doctype html><title>page</title>",
    "app.js": b"// app",
    "style.css": b"body {}",
    "manifest.webmanifest": b"{}",
    "icons/icon-192.png": b"\x89PNG",
    "vendor/tf-core.min.js": b"// tf",
    "vendor/tfjs-backend-wasm.wasm": b"\0asm",
    "models/manifest.json": b"{}",
    "models/cnn/model.json": b"{}",
    "models/cnn/group1-shard1of1.bin": b"\0" * 16,
}
NOT_PAGE = {
    "serve.py": b"SECRET serve.py",
    "package.json": b'{"SECRET": 1}',
    "package-lock.json": b'{"SECRET": 1}',
    "node_modules/axe-core/axe.min.js": b"// SECRET",
    "scripts/copy-vendor.mjs": b"// SECRET",
    "vendor/.installed": b"SECRET",
    ".git/config": b"SECRET",
    "models/cnn/notes.txt": b"SECRET",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve") / "web"
    for relative, content in {**PAGE, **NOT_PAGE}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    # A secret beside the served folder, for traversal attempts to reach.
    (root.parent / "secret.txt").write_bytes(b"SECRET outside")
    return root


@pytest.fixture(scope="module")
def base_url(web_dir: Path) -> Iterator[str]:
    with serve(web_dir) as url:
        yield url


def raw_request(url: str, request: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send `request` bytes as they are (no client library to tidy them): status, headers, body."""
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def get(url: str, target: str, headers: bytes = b"") -> tuple[int, dict, bytes]:
    return raw_request(
        url, b"GET " + target.encode("latin-1") + b" HTTP/1.0\r\n" + headers + b"\r\n"
    )


def test_the_pages_own_files_are_served_with_their_types(base_url: str):
    for relative, content in PAGE.items():
        status, _, body = get(base_url, f"/{relative}")
        assert (status, body) == (200, content), relative
    assert get(base_url, "/")[2] == PAGE["index.html"]
    assert get(base_url, "/vendor/tfjs-backend-wasm.wasm")[1]["Content-type"] == "application/wasm"
    assert get(base_url, "/app.js")[1]["Content-type"] == "text/javascript"
    manifest_type = get(base_url, "/manifest.webmanifest")[1]["Content-type"]
    assert manifest_type == "application/manifest+json"


@pytest.mark.parametrize(
    "target",
    [
        *(f"/{relative}" for relative in NOT_PAGE),
        # No directory listings.
        "/vendor/",
        "/models/",
        "/models/cnn/",
        "/models",
        "/node_modules/",
        # Traversal, plain and encoded, and absolute paths.
        "/../secret.txt",
        "/models/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/models/%2e%2e/%2e%2e/secret.txt",
        "/models/..%2f..%2fsecret.txt",
        "/models/..%5c..%5csecret.txt",
        "/vendor/%252e%252e/serve.py",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/etc/passwd",
        "http://127.0.0.1/../secret.txt",
        "/vendor/tf-core.min.js%00.png",
        "/%ff%fe.js",
        "/./serve.py",
        "/models/./cnn/../../serve.py",
    ],
)
def test_nothing_else_is_served(base_url: str, web_dir: Path, target: str):
    status, headers, body = get(base_url, target)

    assert status == 404
    assert b"SECRET" not in body
    assert headers["Content-Security-Policy"]


def test_an_absolute_path_to_a_real_file_is_not_served(base_url: str, web_dir: Path):
    assert get(base_url, str(web_dir / "serve.py"))[0] == 404
    assert get(base_url, str(web_dir.parent / "secret.txt"))[0] == 404


def test_every_answer_carries_the_security_headers(base_url: str):
    answers = [
        get(base_url, "/"),
        get(base_url, "/models/cnn/group1-shard1of1.bin"),
        get(base_url, "/serve.py"),
        raw_request(base_url, b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
    ]
    assert [status for status, _, _ in answers] == [200, 200, 404, 501]
    for _, headers, _ in answers:
        for name, value in SECURITY_HEADERS.items():
            assert headers[name] == value
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in headers["Content-Security-Policy"].split(";")
        )
        # Scripts from this origin only (blob: URLs are made by its own scripts), WASM without eval.
        assert set(policy["script-src"].split()) == {"'self'", "'wasm-unsafe-eval'", "blob:"}
        assert policy["default-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert "Python" not in headers["Server"]


def test_very_long_urls_and_hostile_headers_are_refused_and_the_server_goes_on(base_url: str):
    long_path = "/" + "a" * 70_000
    assert get(base_url, long_path)[0] == 414
    assert get(base_url, "/models/" + "%2e%2e/" * 2_000 + "secret.txt")[0] == 404
    assert get(base_url, "/", headers=b"X-Long: " + b"b" * 70_000 + b"\r\n")[0] == 431
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(200))
    assert get(base_url, "/", headers=many)[0] == 431
    assert (
        get(base_url, "/", headers=b"Host: evil.example\r\nIf-Modified-Since: yesterday\r\n")[0]
        == 200
    )
    assert get(base_url, "/")[0] == 200


def test_a_stalled_client_keeps_no_one_waiting(base_url: str):
    host, port = base_url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(b"GET /index.html HTT")  # and nothing more
        started = time.monotonic()
        assert get(base_url, "/", headers=b"")[0] == 200
        assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made as README says."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a test certificate"
    subprocess.run(
        [
            openssl,
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_a_stalled_tls_handshake_keeps_no_one_waiting(
    web_dir: Path, certificate: tuple[Path, Path]
):
    cert, key = certificate
    with serve(web_dir, "--certfile", str(cert), "--keyfile", str(key)) as url:
        assert url.startswith("https://")
        host, port = url.split("//")[1].strip("/").split(":")
        context = ssl.create_default_context(cafile=str(cert))
        stalled = [socket.create_connection((host, int(port))) for _ in range(3)]
        stalled[1].sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then silence
        try:
            started = time.monotonic()
            with urllib.request.urlopen(url, context=context, timeout=10) as response:
                assert response.read() == PAGE["index.html"]
                assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert time.monotonic() - started < 5
        finally:
            for connection in stalled:
                connection.close()
