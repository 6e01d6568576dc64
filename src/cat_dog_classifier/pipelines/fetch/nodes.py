"""Resolve `ingest.source` to the photos on this machine, downloading them if need be."""

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
