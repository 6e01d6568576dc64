"""Source resolution and downloads, against a real HTTP server on 127.0.0.1 serving a real zip."""

import zipfile
from pathlib import Path

import pytest

from cat_dog_classifier.sources import DownloadError, download_file
from tests.http_server import ARCHIVE, Files, sha256


def test_download_is_verified_and_kept(server: Files, archive: bytes, tmp_path: Path) -> None:
    destination = tmp_path / "raw" / "kagglecatsanddogs_5340.zip"
    assert download_file(server.url(ARCHIVE), destination, sha256(archive)) == destination
    assert destination.read_bytes() == archive
    assert zipfile.ZipFile(destination).testzip() is None
    assert list(destination.parent.iterdir()) == [destination]  # no .part left behind

    # A finished download is checked, not fetched again.
    download_file(server.url(ARCHIVE), destination, sha256(archive))
    assert server.requests == [(ARCHIVE, None)]


@pytest.mark.parametrize("served", ["truncated", "other bytes"])
def test_bytes_that_do_not_match_the_checksum_are_refused(
    server: Files, archive: bytes, tmp_path: Path, served: str
) -> None:
    # The server sends a whole response, but not the expected file: cut short, or another one.
    server.files[ARCHIVE] = archive[: len(archive) // 2] if served == "truncated" else b"x" * 5000
    destination = tmp_path / "archive.zip"
    with pytest.raises(DownloadError, match=f"not the expected {sha256(archive)}"):
        download_file(server.url(ARCHIVE), destination, sha256(archive))
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial download is kept


def test_missing_file_fails_naming_the_status(server: Files, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download_file(server.url("/nothing.zip"), tmp_path / "nothing.zip", None)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_resumes_where_it_stopped(
    server: Files, archive: bytes, tmp_path: Path
) -> None:
    server.drops, server.drop_after = 2, 10_000
    destination = tmp_path / "archive.zip"
    download_file(server.url(ARCHIVE), destination, sha256(archive), backoff_s=0)
    assert destination.read_bytes() == archive
    assert server.requests == [
        (ARCHIVE, None),
        (ARCHIVE, "bytes=10000-"),
        (ARCHIVE, "bytes=20000-"),
    ]


def test_a_later_run_resumes_a_download_that_gave_up(
    server: Files, archive: bytes, tmp_path: Path
) -> None:
    server.drops, server.drop_after = 3, 10_000
    destination = tmp_path / "archive.zip"
    with pytest.raises(DownloadError, match="run again to resume"):
        download_file(server.url(ARCHIVE), destination, sha256(archive), attempts=3, backoff_s=0)
    partial = tmp_path / "archive.zip.part"
    assert partial.read_bytes() == archive[:30_000]

    download_file(server.url(ARCHIVE), destination, sha256(archive), backoff_s=0)
    assert destination.read_bytes() == archive
    assert server.requests[-1] == (ARCHIVE, "bytes=30000-")
    assert not partial.exists()


def test_server_that_ignores_ranges_sends_the_file_again(
    server: Files, archive: bytes, tmp_path: Path
) -> None:
    server.honour_range = False
    (tmp_path / "archive.zip.part").write_bytes(archive[:10_000])
    destination = tmp_path / "archive.zip"
    download_file(server.url(ARCHIVE), destination, sha256(archive), backoff_s=0)
    assert destination.read_bytes() == archive
    assert server.requests == [(ARCHIVE, "bytes=10000-")]  # answered with the whole file
