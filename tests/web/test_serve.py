"""web/serve.py, the documented way to serve the page: only the page's files, safe headers on every
answer, hostile requests refused, and no client able to hold up the others."""

import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

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


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve") / "web"
    write_files(root, {**PAGE, **NOT_PAGE})
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


def address(url: str) -> tuple[str, int]:
    host, port = url.split("//")[1].strip("/").split(":")
    return host, int(port)


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


def test_symlinks_are_followed_only_inside_the_folder_or_into_the_dvc_cache(tmp_path: Path):
    project = tmp_path / "project"
    root = project / "web"
    write_files(root, PAGE)
    write_files(tmp_path, {"secret.json": b"SECRET file", "elsewhere/cnn/model.json": b"SECRET d"})
    # DVC's cache, where `dvc checkout` with cache.type symlink points web/models' files.
    cached = project / ".dvc" / "cache" / "files" / "md5" / "8a" / "80554c91d9fca8acb82f023de02f11"
    write_files(cached.parent, {cached.name: b'{"cached": 1}'})
    links = {
        # Out of the folder: absolute, relative, a linked folder, a link to a link, system files.
        "models/leak.json": tmp_path / "secret.json",
        "models/cnn/leak.json": Path("../../../../secret.json"),
        "models/out": tmp_path / "elsewhere",
        "models/hop.json": Path("leak.json"),
        "passwd.js": Path("/etc/passwd"),
        "vendor/loop.js": Path("loop.js"),
        # Inside it: another file of the page, a folder of it, and DVC's cache.
        "models/alias.json": Path("manifest.json"),
        "models/copy": Path("cnn"),
        "models/cached.json": cached,
    }
    for relative, target in links.items():
        (root / relative).symlink_to(target)

    with serve(root) as url:
        for target in ["/models/leak.json", "/models/cnn/leak.json", "/models/out/cnn/model.json"]:
            status, _, body = get(url, target)
            assert (status, b"SECRET" in body) == (404, False), target
        assert get(url, "/models/hop.json")[0] == 404
        assert get(url, "/passwd.js")[0] == 404
        assert get(url, "/vendor/loop.js")[0] == 404
        assert get(url, "/models/alias.json")[:3:2] == (200, PAGE["models/manifest.json"])
        assert get(url, "/models/copy/model.json")[:3:2] == (200, PAGE["models/cnn/model.json"])
        status, headers, body = get(url, "/models/cached.json")
        assert (status, body) == (200, b'{"cached": 1}')
        assert headers["Content-type"] == "application/json"  # from the name asked for

    # A cache.dir of the project's own config (relative to .dvc/) moves the cache: only it counts.
    shared = tmp_path / "shared-cache" / "files" / "md5" / "40" / "1b30e3b8b5d629635a5c613cdb7919"
    write_files(shared.parent, {shared.name: b"\0shared"})
    (project / ".dvc" / "config").write_text("[core]\n    autostage = true\n")
    (project / ".dvc" / "config.local").write_text("[cache]\n    dir = ../../shared-cache\n")
    (root / "models/shared.bin").symlink_to(shared)
    with serve(root) as url:
        assert get(url, "/models/shared.bin")[:3:2] == (200, b"\0shared")
        assert get(url, "/models/cached.json")[0] == 404


def test_at_most_workers_clients_are_served_and_a_silent_one_is_dropped(web_dir: Path):
    with serve(web_dir, "--workers", "2", "--timeout", "3") as url:
        silent = [socket.create_connection(address(url), timeout=10) for _ in range(2)]
        try:
            with socket.create_connection(address(url), timeout=1.5) as waiting:
                waiting.sendall(b"GET / HTTP/1.0\r\n\r\n")
                started = time.monotonic()
                # Both workers serve the silent clients: no answer (a thread per client would).
                with pytest.raises(TimeoutError):
                    waiting.recv(1)
                # They are dropped after 3 s of silence, and the waiting client is served.
                waiting.settimeout(10)
                response = b""
                while chunk := waiting.recv(65536):
                    response += chunk
                waited = time.monotonic() - started
            assert response.startswith(b"HTTP/1.0 200")
            assert response.endswith(PAGE["index.html"])
            assert 2.5 < waited < 8
            assert [connection.recv(1) for connection in silent] == [b"", b""]  # closed
        finally:
            for connection in silent:
                connection.close()


def test_a_stalled_tls_handshake_holds_a_worker_only_until_the_timeout(
    web_dir: Path, certificate: tuple[Path, Path]
):
    cert, key = certificate
    options = ("--certfile", str(cert), "--keyfile", str(key), "--workers", "1", "--timeout", "2")
    with serve(web_dir, *options) as url, socket.create_connection(address(url)) as stalled:
        stalled.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then silence
        context = ssl.create_default_context(cafile=str(cert))
        started = time.monotonic()
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            assert response.read() == PAGE["index.html"]
        assert 1.5 < time.monotonic() - started < 7


@pytest.mark.parametrize("option", [("--workers", "0"), ("--timeout", "0"), ("--workers", "x")])
def test_nonsense_options_are_refused(web_dir: Path, option: tuple[str, str]):
    serve_py = PROJECT_ROOT / "web" / "serve.py"
    command = [sys.executable, str(serve_py), "--directory", str(web_dir), "--port", "0", *option]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert finished.returncode == 2
    assert option[0] in finished.stderr
