"""Source resolution and downloads, against a real HTTP server on 127.0.0.1 serving a real zip."""

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cat_dog_classifier.sources import DownloadError, download_file, fetch_source
from tests.http_server import Files, serving

ARCHIVE = "/kagglecatsanddogs_5340.zip"


@pytest.fixture(scope="module")
def archive(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The shared sample photos in the PetImages layout, as a zip of a few hundred kB."""
    path = tmp_path_factory.mktemp("archive") / "petimages.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for photo in sorted(samples_dir.glob("*/*.*")):
            if photo.parent.name in {"cat", "dog"}:
                folder = photo.parent.name.capitalize()
                archive.write(photo, f"PetImages/{folder}/{photo.name}")
    return path.read_bytes()


@pytest.fixture
def server(archive: bytes) -> Iterator[Files]:
    with serving({ARCHIVE: archive}) as served:
        yield served


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    assert fetch_source(params(server, archive, tmp_path, local_copies=copies)) == str(samples_dir)
    assert server.requests == []


def test_auto_without_a_local_copy_downloads(server: Files, archive: bytes, tmp_path: Path) -> None:
    ingest = params(server, archive, tmp_path / "raw", local_copies=[str(tmp_path / "absent.zip")])
    path = fetch_source(ingest)
    assert path == str(tmp_path / "raw" / "kagglecatsanddogs_5340.zip")
    assert Path(path).read_bytes() == archive
    assert fetch_source(ingest) == path
    assert len(server.requests) == 1


def test_a_url_source_is_downloaded_under_its_own_name(
    server: Files, archive: bytes, tmp_path: Path
) -> None:
    server.files["/mirror/pets.zip?version=2"] = archive
    ingest = params(server, archive, tmp_path, source=server.url("/mirror/pets.zip?version=2"))
    assert fetch_source(ingest) == str(tmp_path / "pets.zip")


def test_a_path_source_is_used_in_place(
    server: Files, archive: bytes, samples_dir: Path, tmp_path: Path
) -> None:
    ingest = params(server, archive, tmp_path, source=str(samples_dir))
    assert fetch_source(ingest) == str(samples_dir)
    with pytest.raises(FileNotFoundError, match=r"absent\.zip' does not exist"):
        fetch_source(params(server, archive, tmp_path, source=str(tmp_path / "absent.zip")))
    assert server.requests == []
