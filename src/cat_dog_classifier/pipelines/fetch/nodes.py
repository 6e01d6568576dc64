"""Resolve `ingest.source` to the photos on this machine, downloading them if need be, and
`ingest.neither_source` to the photos of other things, if any."""

import logging
from pathlib import Path
from typing import Any

from cat_dog_classifier.sources import download_file, file_name, is_url

AUTO = "auto"

logger = logging.getLogger(__name__)


def fetch_source(source: str, local_copies: list[str] | None, download: dict[str, Any]) -> str:
    """The path of the photos `source` names (a .zip or a folder).

    `auto` takes the first of `local_copies` that exists, else downloads `download["url"]`
    (Microsoft's PetImages archive); a URL is downloaded the same way, into `download["directory"]`,
    checked against `download["sha256"]`; a path is used as it is.
    """
    source = str(source)
    if source == AUTO:
        copies = [str(path) for path in local_copies or []]
        local = next((path for path in copies if Path(path).exists()), None)
        if local:
            logger.info("ingest.source auto: the local copy %s", local)
            return local
        logger.info("ingest.source auto: no local copy (%s), downloading", copies or "none")
        url = str(download["url"])
    elif is_url(source):
        url = source
    elif Path(source).exists():
        return source
    else:
        raise FileNotFoundError(
            f"ingest.source {source!r} does not exist: give a .zip or a folder of photos, "
            f"an http(s) URL, or {AUTO!r} (a local copy, else Microsoft's download)."
        )
    destination = Path(download["directory"]) / file_name(url)
    return str(download_file(url, destination, download.get("sha256")))


def fetch_neither_source(source: str | None, local_copies: list[str] | None, empty: str) -> str:
    """The path of the photos of neither cats nor dogs that `source` names (a .zip or a folder), or
    the empty folder `empty` when there are none: the third answer, "no cat or dog", is then off.

    `auto` takes the first of `local_copies` that exists (there is no official download); null or
    an `auto` with no local copy turns the third answer off; a path that does not exist fails.
    """
    if source == AUTO:
        copies = [str(path) for path in local_copies or []]
        source = next((path for path in copies if Path(path).exists()), None)
        if source is None:
            logger.warning(
                "ingest.neither_source auto: no local copy (%s); the third answer, 'no cat or "
                "dog', is off. Give a .zip or folder of photos of other things to turn it on.",
                copies or "none",
            )
    if source is None:
        Path(empty).mkdir(parents=True, exist_ok=True)
        return empty
    if not Path(source).exists():
        raise FileNotFoundError(
            f"ingest.neither_source {source!r} does not exist: give a .zip or a folder of photos "
            f"that show neither a cat nor a dog, {AUTO!r} (a local copy if there is one), or null "
            "(no third answer)."
        )
    return str(source)
