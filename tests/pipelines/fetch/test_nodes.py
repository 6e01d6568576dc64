"""The fetch node: `ingest.source` resolved to the photos, against a real HTTP server on 127.0.0.1
(serving the shared sample photos as a zip where Microsoft serves its archive)."""

from pathlib import Path

import pytest

from cat_dog_classifier.pipelines.fetch.nodes import fetch_neither_source, fetch_source
from tests.http_server import ARCHIVE, Files, sha256


def params(server: Files, archive: bytes, directory: Path, **overrides: object) -> dict:
    return {
        "source": "auto",
        "local_copies": [],
        "download": {
            "url": server.url(ARCHIVE),
            "sha256": sha256(archive),
            "directory": str(directory),
        },
    } | overrides


def test_auto_takes_the_first_local_copy_that_exists(
    server: Files, archive: bytes, samples_dir: Path, tmp_path: Path
) -> None:
    copies = [str(tmp_path / "absent.zip"), str(samples_dir), str(tmp_path)]
    assert fetch_source(**params(server, archive, tmp_path, local_copies=copies)) == str(
        samples_dir
    )
    assert server.requests == []


def test_auto_without_a_local_copy_downloads(server: Files, archive: bytes, tmp_path: Path) -> None:
    ingest = params(server, archive, tmp_path / "raw", local_copies=[str(tmp_path / "absent.zip")])
    path = fetch_source(**ingest)
    assert path == str(tmp_path / "raw" / "kagglecatsanddogs_5340.zip")
    assert Path(path).read_bytes() == archive
    assert fetch_source(**ingest) == path
    assert len(server.requests) == 1


def test_a_url_source_is_downloaded_under_its_own_name(
    server: Files, archive: bytes, tmp_path: Path
) -> None:
    server.files["/mirror/pets.zip?version=2"] = archive
    ingest = params(server, archive, tmp_path, source=server.url("/mirror/pets.zip?version=2"))
    assert fetch_source(**ingest) == str(tmp_path / "pets.zip")


def test_a_path_source_is_used_in_place(
    server: Files, archive: bytes, samples_dir: Path, tmp_path: Path
) -> None:
    ingest = params(server, archive, tmp_path, source=str(samples_dir))
    assert fetch_source(**ingest) == str(samples_dir)
    with pytest.raises(FileNotFoundError, match=r"absent\.zip' does not exist"):
        fetch_source(**params(server, archive, tmp_path, source=str(tmp_path / "absent.zip")))
    assert server.requests == []


def test_neither_auto_takes_a_local_copy_or_turns_the_third_answer_off(
    samples_dir: Path, tmp_path: Path
) -> None:
    others = str(samples_dir / "other")
    empty = tmp_path / "no_neither_photos"
    missing = str(tmp_path / "missing.zip")
    assert fetch_neither_source("auto", [missing, others], str(empty)) == others
    assert fetch_neither_source("auto", [missing], str(empty)) == str(empty)
    assert empty.is_dir() and not any(empty.iterdir())
    assert fetch_neither_source(None, [others], str(empty)) == str(empty)
    assert fetch_neither_source(others, [], str(empty)) == others


def test_a_neither_source_that_does_not_exist_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ingest\.neither_source .*missing\.zip"):
        fetch_neither_source(str(tmp_path / "missing.zip"), [], str(tmp_path / "empty"))
