"""A file server on 127.0.0.1 that misbehaves on request: for the download tests."""

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Where the test server serves the sample archive: the name of Microsoft's download.
ARCHIVE = "/kagglecatsanddogs_5340.zip"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Files:
    """What the server serves, how it misbehaves, and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    drops: int = 0  # this many responses stop after `drop_after` bytes of their body
    drop_after: int = 1000
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    base_url: str = ""

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:
        served = self.server.served
        range_header = self.headers.get("Range")
        served.requests.append((self.path, range_header))
        body = served.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if range_header and served.honour_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if served.drops > 0:
            served.drops -= 1
            payload = payload[: served.drop_after]
            self.close_connection = True  # fewer bytes than announced, then the connection ends
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, served: Files) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.served = served


@contextmanager
def serving(files: dict[str, bytes]) -> Iterator[Files]:
    """Serve `files` (URL path -> bytes) on a free port of 127.0.0.1 until the block ends."""
    served = Files(files=dict(files))
    server = _Server(served)
    served.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
