"""Serve the camera page (this folder) on 127.0.0.1.

    python web/serve.py                 # http://127.0.0.1:8000/
    python web/serve.py --port 0        # any free port; the URL is printed
    python web/serve.py --host 0.0.0.0 --certfile cert.pem --keyfile key.pem   # HTTPS, for phones

Browsers only allow the camera on localhost or HTTPS. Only the page's own files are served (see
PAGE_FOLDERS; never node_modules/, scripts/, this file or a directory listing). Every response
carries the cross-origin isolation headers (COOP/COEP) that multithreaded WASM needs
(SharedArrayBuffer), a Content-Security-Policy that lets only this origin's scripts and WASM run,
and `nosniff`; .wasm is served as application/wasm.
"""

import argparse
import functools
import socket
import ssl
import sys
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
    "vendor": {".js", ".wasm"},  # TF.js, copied from node_modules by `npm run build`
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
# A client that connects and then stalls (TLS handshake, request line) is dropped after this long.
CLIENT_TIMEOUT_S = 20


def page_file(directory: Path, url: str) -> Path | None:
    """The file of the page that `url` (a request target) names, or None if it names nothing the
    page serves. Decided on the decoded path's parts alone, before the disk is asked."""
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
    return file if file.is_file() else None


class PageHandler(SimpleHTTPRequestHandler):
    timeout = CLIENT_TIMEOUT_S
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".json": "application/json",
        ".webmanifest": "application/manifest+json",
        ".bin": "application/octet-stream",
    }

    def send_head(self):
        file = page_file(Path(self.directory), self.path)
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
    """One thread per connection. With TLS, the handshake runs in the connection's own thread
    (not in accept()), so a client that stalls mid-handshake keeps no other client waiting."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler, ssl_context: ssl.SSLContext | None, quiet: bool
    ) -> None:
        super().__init__(address, handler)
        self.ssl_context = ssl_context
        self.quiet = quiet

    def finish_request(self, request: socket.socket, client_address) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(CLIENT_TIMEOUT_S)
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
) -> PageServer:
    handler = functools.partial(PageHandler, directory=str(directory))
    return PageServer((host, port), handler, ssl_context, quiet)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--directory", type=Path, default=WEB_DIR, help="folder to serve")
    parser.add_argument("--certfile", type=Path, help="PEM certificate: serve HTTPS")
    parser.add_argument("--keyfile", type=Path, help="PEM private key for --certfile")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

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
    server = make_server(directory, args.host, args.port, args.quiet, context)
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
