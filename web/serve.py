"""Serve the camera page (this folder) on 127.0.0.1.

    python web/serve.py                 # http://127.0.0.1:8000/
    python web/serve.py --port 0        # any free port; the URL is printed
    python web/serve.py --host 0.0.0.0 --certfile cert.pem --keyfile key.pem   # HTTPS, for phones

Browsers only allow the camera on localhost or HTTPS. Only the page's own files are served (see
PAGE_FOLDERS; never node_modules/, scripts/, this file or a directory listing), and only from inside
the served folder: a symlink is followed only to a file inside it or inside the project's DVC cache
(see file_roots). At most --workers connections are served at once (see PageServer). Every response
carries the cross-origin isolation headers (COOP/COEP) that multithreaded WASM needs
(SharedArrayBuffer), a Content-Security-Policy that lets only this origin's scripts and WASM run,
and `nosniff`; .wasm is served as application/wasm.
"""

import argparse
import configparser
import contextlib
import functools
import socket
import ssl
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

WEB_DIR = Path(__file__).resolve().parent

# What the page is, by folder ("" = the top level): the file types served from each. Anything else
# answers 404, whatever exists on disk.
PAGE_FOLDERS = {
    "": {".html", ".js", ".css", ".webmanifest"},
    "icons": {".png"},
    "vendor": {".js", ".wasm"},  # TF.js and wasm/resize.ts compiled, by `npm run build`
    "models": {".json", ".bin"},  # the export pipeline's output
}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # WASM compiles only with 'wasm-unsafe-eval'; no inline script, no eval. blob: is for
        # TF.js's threaded WASM, which starts its workers from blob: URLs of its own code (only a
        # script already running on this origin can make a blob: URL of it).
        "script-src 'self' 'wasm-unsafe-eval' blob:",
        "worker-src 'self' blob:",
        "style-src 'self'",
        "img-src 'self' blob: data:",  # a dropped photo is shown from a blob: URL
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    # A re-export replaces models/ in place: revalidate rather than mix old and new shards.
    "Cache-Control": "no-cache",
}
# A client that connects and then stalls (TLS handshake, request line, reading the answer) is
# dropped after this long without a byte moving: it holds one of the workers until then.
CLIENT_TIMEOUT_S = 20
# Connections served at once. A browser opens about 6 per page load; a few phones and a laptop fit.
WORKERS = 16


def file_roots(directory: Path) -> tuple[Path, ...]:
    """The folders a served file may really be in (symlinks resolved): the served folder, and the
    DVC cache of the project around it, if any. With `cache.type` symlink (a user's choice in
    .dvc/config or .dvc/config.local; the default is reflink or copy), `dvc checkout` makes every
    file of web/models a symlink into the cache, and the page must still get its models. The cache
    holds only the project's own tracked outputs, under content-hash names; a file there is
    served only through a path the page serves (PAGE_FOLDERS) that links to it. A cache.dir set
    in DVC's global or system config is not read: set it in the project's config instead."""
    directory = directory.resolve()
    for project in (directory, *directory.parents):
        dvc = project / ".dvc"
        if dvc.is_dir():
            config = configparser.ConfigParser()
            # The local one wins; a config DVC itself would refuse leaves the default cache.
            with contextlib.suppress(configparser.Error):
                config.read([dvc / "config", dvc / "config.local"])
            # A relative cache.dir is relative to the .dvc folder, where its config files are.
            cache = dvc / config.get("cache", "dir", fallback="cache")
            return (directory, cache.resolve())
    return (directory,)


def page_file(directory: Path, url: str, roots: tuple[Path, ...] | None = None) -> Path | None:
    """The file of the page that `url` (a request target) names, or None if it names nothing the
    page serves. Decided on the decoded path's parts alone, before the disk is asked; then the file
    must really be inside one of `roots` (default: `directory`) once symlinks are resolved, so a
    link inside the folder to anywhere else on disk serves nothing."""
    try:
        path = unquote(urlsplit(url).path, errors="strict")
    except UnicodeDecodeError:
        return None
    if path == "/":
        path = "/index.html"
    if not path.startswith("/") or "\\" in path or "\0" in path:
        return None
    parts = path[1:].split("/")
    # No empty, `.` or `..` part (so no traversal, no `//`), no hidden file.
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    folder = parts[0] if len(parts) > 1 else ""
    if folder not in PAGE_FOLDERS or Path(parts[-1]).suffix not in PAGE_FOLDERS[folder]:
        return None
    file = directory.joinpath(*parts)
    # The base class opens `file` (the link), not its target: the type comes from the name asked
    # for (cache files have none). A link swapped in between is possible only for whoever can
    # write in the served folder, who can serve anything anyway.
    return file if is_file_inside(file, roots or (directory.resolve(),)) else None


def is_file_inside(file: Path, roots: tuple[Path, ...]) -> bool:
    """Whether `file`, all symlinks resolved, is a file inside one of `roots` (resolved paths)."""
    try:
        real = file.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop (RuntimeError in 3.11)
        return False
    return real.is_file() and any(real.is_relative_to(root) for root in roots)


class PageHandler(SimpleHTTPRequestHandler):
    # No `timeout` here: PageServer.finish_request sets the socket's, before any TLS handshake.
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".json": "application/json",
        ".webmanifest": "application/manifest+json",
        ".bin": "application/octet-stream",
    }

    def send_head(self):
        file = page_file(Path(self.directory), self.path, self.server.file_roots)
        if file is None:
            self.send_error(404, "Not part of the page")
            return None
        # The base class opens the file and sends its headers; it sees only the checked path.
        self.path = "/" + file.relative_to(self.directory).as_posix()
        return super().send_head()

    def version_string(self) -> str:
        return "serve.py"  # no Python version for the world to read

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


class PageServer(ThreadingHTTPServer):
    """A thread per connection, at most `workers` at once. With TLS, the handshake runs in the
    connection's own thread (not in accept()), so a client that stalls mid-handshake keeps no other
    client waiting, until `workers` such clients hold every thread for `timeout` seconds each.

    When all are busy, the next connection waits (in accept, then in the kernel's listen backlog)
    rather than being answered 503: a page load opens several connections at once, and a brief
    burst should only delay it, not break it; a 503 over TLS would also need a handshake in the
    accept loop, which a stalled client could then hold up. Threads and memory stay bounded, and
    a stalled client frees its worker after `timeout` seconds of silence."""

    daemon_threads = True
    request_queue_size = 64  # the listen backlog: a burst waits there instead of being dropped

    def __init__(
        self,
        address: tuple[str, int],
        handler,
        ssl_context: ssl.SSLContext | None,
        quiet: bool,
        *,
        workers: int = WORKERS,
        timeout: float = CLIENT_TIMEOUT_S,
        file_roots: tuple[Path, ...] = (),
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        super().__init__(address, handler)
        self.ssl_context = ssl_context
        self.quiet = quiet
        self.client_timeout = timeout
        self.file_roots = file_roots
        self.free_workers = threading.BoundedSemaphore(workers)

    def process_request(self, request: socket.socket, client_address) -> None:
        # Blocks the accept loop while every worker is busy (Ctrl+C still interrupts it).
        self.free_workers.acquire()
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self.free_workers.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.free_workers.release()

    def finish_request(self, request: socket.socket, client_address) -> None:
        request.settimeout(self.client_timeout)  # each recv/send, the TLS handshake included
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a failed or stalled handshake: the base class closes the socket
        try:
            super().finish_request(connection, client_address)
        finally:
            self.shutdown_request(connection)


def make_server(
    directory: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    quiet: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    *,
    workers: int = WORKERS,
    timeout: float = CLIENT_TIMEOUT_S,
) -> PageServer:
    handler = functools.partial(PageHandler, directory=str(directory))
    return PageServer(
        (host, port),
        handler,
        ssl_context,
        quiet,
        workers=workers,
        timeout=timeout,
        file_roots=file_roots(directory),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--directory", type=Path, default=WEB_DIR, help="folder to serve")
    parser.add_argument("--certfile", type=Path, help="PEM certificate: serve HTTPS")
    parser.add_argument("--keyfile", type=Path, help="PEM private key for --certfile")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"connections served at once; more wait their turn (default {WORKERS})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=CLIENT_TIMEOUT_S,
        help="drop a client after this many seconds without a byte sent or read "
        f"(default {CLIENT_TIMEOUT_S})",
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.timeout <= 0:
        parser.error("--workers must be at least 1 and --timeout more than 0")

    directory = args.directory.resolve()
    if not (directory / "vendor" / "tf-core.min.js").is_file():
        sys.exit(f"{directory}/vendor/ lacks TF.js: run `npm ci && npm run build` in {directory}")
    if not (directory / "models" / "manifest.json").is_file():
        print(
            f"warning: {directory}/models/manifest.json is missing, the page will say so; "
            "export a model with `kedro run --pipelines export`",
            file=sys.stderr,
        )
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    server = make_server(
        directory,
        args.host,
        args.port,
        args.quiet,
        context,
        workers=args.workers,
        timeout=args.timeout,
    )
    host, port = server.server_address[:2]
    scheme = "https" if context else "http"
    print(f"Serving {directory} at {scheme}://{host}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
