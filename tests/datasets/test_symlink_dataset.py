"""SymlinkDataset: links real data where it lies, relative where it was given relative."""

import os
from pathlib import Path

import pytest
from kedro.io import DatasetError

from cat_dog_classifier.datasets import SymlinkDataset


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with a source beside it, as ../shared is; the working directory."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "photos.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_relative_target_is_linked_relative_to_the_link(project: Path) -> None:
    dataset = SymlinkDataset(filepath=str(project / "data/01_raw/image_source"))
    dataset.save("../shared/photos.zip")
    link = project / "data/01_raw/image_source"
    assert link.is_symlink()
    assert os.readlink(link) == "../../../shared/photos.zip"
    assert dataset.load() == "data/01_raw/image_source"
    assert Path(dataset.load()).read_bytes() == (project.parent / "shared/photos.zip").read_bytes()


def test_absolute_target_stays_absolute_and_an_unchanged_link_is_left_alone(
    project: Path,
) -> None:
    target = project.parent / "shared" / "photos.zip"
    dataset = SymlinkDataset(filepath="data/01_raw/image_source")
    dataset.save(str(target))
    link = project / "data/01_raw/image_source"
    assert os.readlink(link) == str(target)
    made = link.lstat().st_mtime_ns
    dataset.save(str(target))
    assert link.lstat().st_mtime_ns == made

    dataset.save(str(project.parent / "shared"))  # another target replaces the link
    assert os.readlink(link) == str(project.parent / "shared")


def test_missing_target_or_link_fails(project: Path) -> None:
    dataset = SymlinkDataset(filepath="data/01_raw/image_source")
    with pytest.raises(DatasetError, match=r"absent\.zip: it does not exist"):
        dataset.save("../shared/absent.zip")
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="does not exist or points to nothing"):
        dataset.load()
