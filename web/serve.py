"""Serve the camera page (this folder) on 127.0.0.1.

    python web/serve.py                 # http://127.0.0.1:8000/
    python web/serve.py --port 0        # any free port; the URL is printed
    python web/serve.py --host 0.0.0.0 --certfile cert.pem --keyfile key.pem   # HTTPS, for phones

Browsers only allow the camera on localhost or HTTPS. Every response carries the cross-origin
isolation headers (COOP/COEP) that multithreaded WASM needs (SharedArrayBuffer), and .wasm is
served as application/wasm.
"""

import argparse
import functools
import ssl
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

WEB_DIR = Path(__file__).resolve().parent


class PageHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".bin": "application/octet-stream",
    }

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        # A re-export replaces models/ in place: revalidate rather than mix old and new shards.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(
    directory: Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False
) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(
        (host, port), functools.partial(PageHandler, directory=str(directory))
    )
    server.quiet = quiet
    return server


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
            "export a model with `kedro run --pipeline export`",
            file=sys.stderr,
        )
    server = make_server(directory, args.host, args.port, args.quiet)
    scheme = "http"
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    host, port = server.server_address[:2]
    print(f"Serving {directory} at {scheme}://{host}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
