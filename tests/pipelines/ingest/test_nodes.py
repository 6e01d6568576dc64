"""Ingestion nodes on real folders and zips of good, odd and broken files, in every layout."""

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cat_dog_classifier.pipelines.ingest.nodes import (
    MANIFEST_COLUMNS,
    inspect_images,
    inspect_neither_images,
    reject_duplicates,
    summarise_ingestion,
)
from tests import odd_images


def ingest(
    source: Path, neither: Path | None = None, workers: int | None = 2, **overrides
) -> pd.DataFrame:
    params = {"source": str(source), "min_side": 32, "max_pixels": 40_000_000, "workers": workers}
    params |= overrides
    pets = inspect_images(str(source), params)
    others = pd.DataFrame(columns=MANIFEST_COLUMNS)
    if neither is not None:
        others = inspect_neither_images(str(neither), params)
    return reject_duplicates(pets, others)


def write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def zip_folder(folder: Path, destination: Path) -> Path:
    with zipfile.ZipFile(destination, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return destination


@pytest.fixture(scope="module")
def pixels(samples_dir: Path) -> np.ndarray:
    return odd_images.photo(samples_dir)


@pytest.fixture(scope="module")
def odd_files(pixels: np.ndarray, samples_dir: Path) -> dict[str, tuple[bytes, str, str]]:
    """path -> (bytes, expected status, expected reason) for every kind of file a user may have."""
    cat, dog = (
        odd_images.jpeg(pixels),
        odd_images.jpeg(odd_images.photo(samples_dir, "dog/puppy.jpg")),
    )
    shared = odd_images.jpeg(odd_images.photo(samples_dir, "other/tent.jpg"))
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 128, np.uint8)])
    return {
        "Cats/good.jpg": (cat, "ok", ""),
        "Cats/good_2.jpg": (cat, "rejected", "duplicate"),
        "Cats/UPPER.JPG": (odd_images.jpeg(pixels[::-1]), "ok", ""),
        "Cats/chat_ü.jpeg": (odd_images.jpeg(pixels[:, ::-1]), "ok", ""),
        "Cats/png_named.jpg": (odd_images.encode(pixels, "PNG"), "ok", ""),
        "Cats/rotated.jpg": (odd_images.jpeg(pixels, orientation=6), "ok", ""),
        "Cats/gray.jpg": (
            odd_images.encode(Image.fromarray(pixels).convert("L"), "JPEG"),
            "ok",
            "",
        ),
        "Cats/cmyk.jpg": (
            odd_images.encode(Image.fromarray(pixels).convert("CMYK"), "JPEG"),
            "ok",
            "",
        ),
        "Cats/rgba.png": (odd_images.encode(rgba, "PNG"), "ok", ""),
        "Cats/palette.png": (
            odd_images.encode(Image.fromarray(pixels).quantize(32), "PNG"),
            "ok",
            "",
        ),
        "Cats/16bit.png": (
            odd_images.encode(Image.fromarray(np.full((64, 64), 40000, np.uint16)), "PNG"),
            "ok",
            "",
        ),
        "Cats/empty.jpg": (b"", "rejected", "empty_file"),
        "Cats/truncated.jpg": (cat[: len(cat) // 2], "rejected", "corrupt"),
        "Cats/grey_bottom.jpg": (odd_images.jpeg_ending_mid_stream(pixels), "rejected", "corrupt"),
        "Cats/text.jpg": (b"not an image at all", "rejected", "not_an_image"),
        "Cats/animated.gif": (odd_images.encode(pixels, "GIF"), "rejected", "unsupported_format"),
        "Cats/tiny.jpg": (odd_images.jpeg(pixels[:20, :20]), "rejected", "too_small"),
        "Cats/bomb.png": (odd_images.png_claiming(100_000, 100_000), "rejected", "too_large"),
        "Cats/shared.jpg": (shared, "rejected", "conflicting_labels"),
        "Cats/.DS_Store": (b"\x00\x00\x00\x01Bud1", "rejected", "os_junk"),
        "Cats/Thumbs.db": (b"\xd0\xcf\x11\xe0", "rejected", "os_junk"),
        "__MACOSX/Cats/._good.jpg": (b"\x00\x05\x16\x07", "rejected", "os_junk"),
        "nested/deeper/DOGS/dog.jpg": (dog, "ok", ""),
        "nested/deeper/DOGS/shared.jpg": (shared, "rejected", "conflicting_labels"),
        "README.txt": (b"cats and dogs", "rejected", "unlabelled"),
    }


@pytest.fixture(scope="module")
def odd_folder(odd_files: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {name: data for name, (data, _, _) in odd_files.items()}
    return write(tmp_path_factory.mktemp("odd"), files)


def test_every_odd_file_is_ingested_or_rejected_with_its_reason(
    odd_folder: Path, odd_files: dict
) -> None:
    manifest = ingest(odd_folder).set_index("path")
    assert sorted(manifest.index) == sorted(odd_files)
    for path, (_, status, reason) in odd_files.items():
        assert (manifest.at[path, "status"], manifest.at[path, "reason"]) == (status, reason), path
    assert (manifest.loc[manifest["status"] == "rejected", "detail"] != "").all()


def test_manifest_describes_each_file(odd_folder: Path, odd_files: dict) -> None:
    manifest = ingest(odd_folder)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["path"].is_monotonic_increasing
    assert (manifest["source"] == str(odd_folder)).all()
    rows = manifest.set_index("path")
    assert rows.loc["Cats/good.jpg", ["label", "format", "width", "height"]].tolist() == [
        "cat",
        "JPEG",
        120,
        90,
    ]
    assert rows.loc["Cats/rotated.jpg", ["width", "height"]].tolist() == [90, 120]
    assert rows.loc["Cats/png_named.jpg", "format"] == "PNG"
    assert rows.loc["nested/deeper/DOGS/dog.jpg", "label"] == "dog"
    assert rows.loc["Cats/good.jpg", "sha256"] == rows.loc["Cats/good_2.jpg", "sha256"]
    assert rows.loc["Cats/good_2.jpg", "detail"] == "same bytes as Cats/good.jpg"
    assert rows.loc["Cats/.DS_Store", "label"] == ""
    assert pd.isna(rows.loc["Cats/empty.jpg", "width"])


def test_a_zip_gives_the_same_manifest_as_its_folder(odd_folder: Path, tmp_path: Path) -> None:
    archive = zip_folder(odd_folder, tmp_path / "odd.zip")
    from_zip = ingest(archive, workers=1).drop(columns="source")
    from_folder = ingest(odd_folder).drop(columns="source")
    pd.testing.assert_frame_equal(from_zip, from_folder)


def test_report_counts_labels_and_reasons(odd_folder: Path) -> None:
    report = summarise_ingestion(ingest(odd_folder))
    assert report["files"] == 25
    assert report["usable"] == 11
    assert report["labels"] == {"cat": 10, "dog": 1}
    assert report["rejections"] == {
        "conflicting_labels": 2,
        "corrupt": 2,
        "duplicate": 1,
        "empty_file": 1,
        "not_an_image": 1,
        "os_junk": 3,
        "too_large": 1,
        "too_small": 1,
        "unlabelled": 1,
        "unsupported_format": 1,
    }
    assert report["rejections_by_label"]["unlabelled"] == {"os_junk": 3, "unlabelled": 1}
    assert report["formats"] == {"JPEG": 7, "PNG": 4}


def test_petimages_zip_is_read_in_place(small_source_zip: Path) -> None:
    manifest = ingest(small_source_zip)
    assert len(manifest) == 300
    assert (manifest["status"] == "ok").all()
    assert manifest["label"].value_counts().to_dict() == {"cat": 150, "dog": 150}
    assert manifest.set_index("path").at["PetImages/Dog/7.jpg", "label"] == "dog"
    assert not any(path.name.endswith(".jpg") for path in small_source_zip.parent.rglob("*"))


def test_oxford_iiit_pet_layout(pixels: np.ndarray, tmp_path: Path) -> None:
    image = odd_images.jpeg(pixels)
    files = {
        "images/Abyssinian_1.jpg": image,
        "images/Egyptian_Mau_12.jpg": odd_images.jpeg(pixels[::-1]),
        "images/american_bulldog_100.jpg": odd_images.jpeg(pixels[:, ::-1]),
        "images/great_pyrenees_7.jpg": odd_images.jpeg(pixels[::-1, ::-1]),
        "annotations/trimaps/Abyssinian_1.png": odd_images.encode(pixels[..., 0], "PNG"),
    }
    manifest = ingest(write(tmp_path, files), workers=1).set_index("path")
    assert manifest["label"].to_dict() == {
        "annotations/trimaps/Abyssinian_1.png": "",
        "images/Abyssinian_1.jpg": "cat",
        "images/Egyptian_Mau_12.jpg": "cat",
        "images/american_bulldog_100.jpg": "dog",
        "images/great_pyrenees_7.jpg": "dog",
    }
    assert manifest.at["annotations/trimaps/Abyssinian_1.png", "reason"] == "unlabelled"


def test_generic_layout_any_case_any_depth(pixels: np.ndarray, tmp_path: Path) -> None:
    files = {
        "train/CAT/a.jpg": odd_images.jpeg(pixels),
        "train/dogs/b.jpg": odd_images.jpeg(pixels[::-1]),
        "valid/Cats/2024/c.jpg": odd_images.jpeg(pixels[:, ::-1]),
        "valid/Dog/d.jpg": odd_images.jpeg(pixels[::-1, ::-1]),
    }
    manifest = ingest(write(tmp_path, files), workers=1)
    assert manifest["label"].tolist() == ["cat", "dog", "cat", "dog"]


@pytest.mark.parametrize("name", ["missing", "missing.zip"])
def test_missing_source_fails_naming_path_and_layouts(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name} does not exist.*Layouts understood.*PetImages"):
        ingest(tmp_path / name)


def test_source_without_recognisable_images_fails_at_once(tmp_path: Path) -> None:
    write(tmp_path, {"holiday/beach.jpg": b"jpeg?", "notes.txt": b"hello"})
    with pytest.raises(ValueError, match=rf"No recognisable cat/dog image in {tmp_path}.*Oxford"):
        ingest(tmp_path)
    with pytest.raises(ValueError, match="No recognisable"):
        ingest(zip_folder(tmp_path, tmp_path.parent / "holiday.zip"))


def test_empty_folder_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(0 files\)"):
        ingest(tmp_path)


def test_source_that_is_neither_zip_nor_folder_fails(tmp_path: Path) -> None:
    tarball = write(tmp_path, {"images.tar.gz": b"\x1f\x8b not really"}) / "images.tar.gz"
    with pytest.raises(ValueError, match=r"neither a directory nor a \.zip.*Layouts understood"):
        ingest(tarball)


def test_source_whose_every_image_is_broken_fails_with_the_reasons(tmp_path: Path) -> None:
    write(tmp_path, {"cat/a.jpg": b"", "dog/b.jpg": b"garbage"})
    with pytest.raises(ValueError, match=r"No usable image.*'empty_file': 1.*'not_an_image': 1"):
        ingest(tmp_path)


def test_photos_of_other_things_are_labelled_neither_checked_and_reported(
    samples_dir: Path, tmp_path: Path
):
    pets = write(
        tmp_path / "pets",
        {f"Cat/{p.name}": p.read_bytes() for p in (samples_dir / "cat").iterdir()}
        | {f"Dog/{p.name}": p.read_bytes() for p in (samples_dir / "dog").iterdir()},
    )
    guitar = (samples_dir / "other/guitar.jpg").read_bytes()
    others = write(
        tmp_path / "others",
        {
            "any/depth/guitar.jpg": guitar,
            "tent.jpg": (samples_dir / "other/tent.jpg").read_bytes(),
            "broken.jpg": guitar[:300],
            ".DS_Store": b"\0",
            "copy_of_a_cat.jpg": next((samples_dir / "cat").iterdir()).read_bytes(),
        },
    )
    manifest = ingest(pets, neither=zip_folder(others, tmp_path / "others.zip"))

    neither = manifest[manifest["source"].str.endswith("others.zip")].set_index("path")
    assert neither.loc["any/depth/guitar.jpg", ["label", "status"]].tolist() == ["neither", "ok"]
    assert neither.loc["tent.jpg", "status"] == "ok"
    assert neither.loc["broken.jpg", "status"] == "rejected"
    assert neither.loc[".DS_Store", "reason"] == "os_junk"
    # The same bytes as a cat: both copies rejected, whichever source they came from.
    copies = manifest[manifest["sha256"] == neither.loc["copy_of_a_cat.jpg", "sha256"]]
    assert set(copies["reason"]) == {"conflicting_labels"} and len(copies) == 2
    report = summarise_ingestion(manifest)
    assert report["labels"]["neither"] == 2
    assert report["labels"]["cat"] == len(list((samples_dir / "cat").iterdir())) - 1


def test_an_empty_neither_source_turns_the_third_answer_off_and_says_so(
    samples_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    pets = write(
        tmp_path / "pets",
        {f"Cat/{p.name}": p.read_bytes() for p in (samples_dir / "cat").iterdir()}
        | {f"Dog/{p.name}": p.read_bytes() for p in (samples_dir / "dog").iterdir()},
    )
    (tmp_path / "none").mkdir()
    manifest = ingest(pets, neither=tmp_path / "none")
    assert set(manifest["label"]) == {"cat", "dog"}
    assert "the third answer, 'no cat or dog', is off" in caplog.text
