"""Downloads that survive real networks: resumed after a dropped connection (HTTP Range), checked
against a SHA-256, never fetched again once finished (the fetch pipeline gets the photos so)."""

import hashlib
import logging
import time
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import requests
from tqdm.auto import tqdm

_CHUNK_BYTES = 1 << 20
_TIMEOUT_S = (30, 60)  # connecting, then waiting for the next bytes

logger = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A download that failed, or whose bytes are not the expected ones."""


class _Interrupted(Exception):
    """The connection ended before the whole file came: worth resuming."""


def download_file(
    url: str, destination: Path, sha256: str | None, *, attempts: int = 5, backoff_s: float = 2.0
) -> Path:
    """`url` saved at `destination` and checked against `sha256` (None: not checked, logged).

    The bytes go to `<destination>.part` first, which a later call resumes (HTTP Range), and become
    `destination` only once complete and verified, so an existing `destination` is a finished one.
    A dropped connection is resumed up to `attempts` times, waiting `backoff_s` times the attempt.
    """
    if destination.exists():
        if sha256 is None or file_sha256(destination) == sha256:
            logger.info("%s is already downloaded", destination)
            return destination
        logger.warning("%s does not match SHA-256 %s: downloading it again", destination, sha256)
        destination.unlink()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            _download_rest(url, partial)
            break
        except (requests.ConnectionError, requests.Timeout, _Interrupted) as error:
            received = partial.stat().st_size if partial.exists() else 0
            if attempt == attempts:
                raise DownloadError(
                    f"Downloading {url} failed {attempts} times ({error}). The {received:,} bytes "
                    f"received are kept in {partial}: run again to resume."
                ) from error
            logger.warning(
                "Download of %s interrupted at byte %d (%s); resuming, attempt %d of %d",
                url,
                received,
                error,
                attempt + 1,
                attempts,
            )
            time.sleep(backoff_s * attempt)
        except requests.HTTPError as error:
            raise DownloadError(f"Downloading {url} failed: {error}") from error

    actual = file_sha256(partial)
    if sha256 is None:
        logger.warning("%s is not verified (no SHA-256 given); its SHA-256 is %s", url, actual)
    elif actual != sha256:
        partial.unlink()
        raise DownloadError(
            f"{url} has SHA-256 {actual}, not the expected {sha256} (ingest.download.sha256): "
            f"the file was deleted. A wrong URL, a changed file, or a proxy's error page?"
        )
    partial.replace(destination)
    logger.info("Downloaded %s to %s", url, destination)
    return destination


def _download_rest(url: str, partial: Path) -> None:
    """Append to `partial` what it lacks of `url`; start over where the server cannot resume."""
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT_S) as response:
        if offset and response.status_code == 416:  # Range Not Satisfiable: nothing is missing
            return
        response.raise_for_status()
        if response.status_code != 206:  # the whole file, from its first byte
            offset = 0
        elif not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            partial.unlink()
            raise _Interrupted(f"the server resumed at the wrong byte: {response.headers}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        with (
            partial.open("ab" if offset else "wb") as file,
            tqdm(
                desc=partial.name.removesuffix(".part"),
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
            ) as progress,
        ):
            # A body cut short then just ends, and the length check below notices: urllib3's own
            # check would raise and lose the bytes of the chunk being read.
            response.raw.enforce_content_length = False
            for chunk in response.iter_content(_CHUNK_BYTES):
                file.write(chunk)
                progress.update(len(chunk))
    if total is not None and partial.stat().st_size < total:
        raise _Interrupted(f"{partial.stat().st_size:,} of {total:,} bytes")


def file_sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def file_name(url: str) -> str:
    """The last segment of the URL's path: what the download is saved as."""
    return PurePosixPath(urlparse(url).path).name or "download"


def is_url(source: str) -> bool:
    return urlparse(source).scheme in {"http", "https"}
