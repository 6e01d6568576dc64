"""Ingestion: list every file of the source, label it from its path and check that it decodes."""

import logging
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd

from cat_dog_classifier.image_source import ImageSource, map_batches
from cat_dog_classifier.images import check_files
from cat_dog_classifier.labels import NEITHER

LAYOUTS_UNDERSTOOD = (
    "Layouts understood: "
    "(1) PetImages, <top>/Cat/*.jpg and <top>/Dog/*.jpg "
    "as in Microsoft's kagglecatsanddogs_5340.zip; "
    "(2) one folder per class at any depth, named cat, cats, dog or dogs in any case; "
    "(3) Oxford-IIIT Pet, images/<Breed>_<n>.jpg, where a capitalised breed is a cat. "
    "A source is a .zip archive (read in place) or a directory."
)
CLASS_FOLDERS = {"cat": "cat", "cats": "cat", "dog": "dog", "dogs": "dog"}
OXFORD_FILE_NAME = re.compile(r"[A-Za-z]+(?:_[A-Za-z]+)*_\d+\.\w+")
OS_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini"})
logger = logging.getLogger(__name__)
MANIFEST_COLUMNS = [
    "source",
    "path",
    "label",
    "sha256",
    "width",
    "height",
    "format",
    "status",
    "reason",
    "detail",
]


def inspect_images(image_source: str, ingest: dict[str, Any]) -> pd.DataFrame:
    """One manifest row per file of the source: label from its path, hash, size, format, status.

    Fails at once, naming the source and the layouts understood, when the source is missing or
    no file sits where a layout expects a labelled image.
    """
    source = _open(image_source)
    with source:
        paths = source.list_files()
        layout = find_layout(paths, image_source)
        label_of = partial(label_from_path, layout=layout)
        manifest = _inspect(source, paths, label_of, layout, ingest)
    if not (manifest["status"] == "ok").any():
        reasons = dict(Counter(manifest["reason"]))
        raise ValueError(
            f"No usable image in {image_source} ({len(paths)} files, rejected: {reasons}). "
            f"{LAYOUTS_UNDERSTOOD}"
        )
    return manifest


def inspect_neither_images(neither_source: str, ingest: dict[str, Any]) -> pd.DataFrame:
    """The manifest rows of the photos of neither cats nor dogs: every file of the source, in any
    layout, labelled `neither` and checked as strictly as the pets. None: the third answer is off.
    """
    source = _open(neither_source)
    with source:
        paths = source.list_files()
        manifest = _inspect(source, paths, lambda _: NEITHER, "any", ingest)
    usable = int((manifest["status"] == "ok").sum())
    if usable:
        logger.info("%d usable photos of other things in %s", usable, neither_source)
    else:
        logger.warning(
            "No usable photo of other things in %s (ingest.neither_source): the third answer, "
            "'no cat or dog', is off.",
            neither_source,
        )
    return manifest


def reject_duplicates(pet_images: pd.DataFrame, neither_images: pd.DataFrame) -> pd.DataFrame:
    """One manifest of both sources, in path order: keep the first of identical usable files;
    reject all copies labelled differently."""
    parts = [part for part in (pet_images, neither_images) if len(part)]
    manifest = pd.concat(parts, ignore_index=True) if parts else pet_images.copy()
    manifest = manifest.sort_values("path", ignore_index=True, kind="stable")
    usable = manifest["status"] == "ok"
    hashes = manifest["sha256"].where(usable)
    labels_per_hash = manifest[usable].groupby("sha256")["label"].nunique()
    first_path = manifest[usable].groupby("sha256")["path"].first()

    conflicting = usable & hashes.map(labels_per_hash).gt(1)
    duplicate = usable & ~conflicting & hashes.duplicated()
    manifest.loc[conflicting, "reason"] = "conflicting_labels"
    manifest.loc[conflicting, "detail"] = "the same bytes are labelled differently"
    manifest.loc[duplicate, "reason"] = "duplicate"
    manifest.loc[duplicate, "detail"] = "same bytes as " + hashes[duplicate].map(first_path)
    manifest.loc[conflicting | duplicate, "status"] = "rejected"
    return manifest


def summarise_ingestion(image_manifest: pd.DataFrame) -> dict[str, Any]:
    """Counts per label (usable images), per rejection reason and per format, for the report."""
    usable = image_manifest[image_manifest["status"] == "ok"]
    rejected = image_manifest[image_manifest["status"] == "rejected"]
    return {
        "source": str(image_manifest["source"].iloc[0]),
        "files": len(image_manifest),
        "usable": len(usable),
        "rejected": len(rejected),
        "labels": _counts(usable["label"]),
        "formats": _counts(usable["format"]),
        "rejections": _counts(rejected["reason"]),
        "rejections_by_label": {
            label or "unlabelled": _counts(group["reason"])
            for label, group in rejected.groupby("label")
        },
    }


def find_layout(paths: list[str], location: str) -> str:
    """Name the layout that labels the source's files, or fail naming the layouts understood."""
    if any(_class_folder_label(path) for path in paths):
        return "class_folders"
    if any(_oxford_label(path) for path in paths):
        return "oxford_iiit_pet"
    raise ValueError(
        f"No recognisable cat/dog image in {location} ({len(paths)} files). {LAYOUTS_UNDERSTOOD}"
    )


def label_from_path(path: str, layout: str) -> str:
    """'cat', 'dog' or '' (not where the layout expects an image)."""
    return _class_folder_label(path) if layout == "class_folders" else _oxford_label(path)


def is_os_junk(path: str) -> bool:
    """Files that file managers leave behind (.DS_Store, Thumbs.db, AppleDouble ._ files)."""
    parts = path.split("/")
    name = parts[-1]
    return name.lower() in OS_JUNK_NAMES or name.startswith("._") or "__MACOSX" in parts


def _open(location: str) -> ImageSource:
    try:
        return ImageSource(location)
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(f"{error} {LAYOUTS_UNDERSTOOD}") from error


def _inspect(
    source: ImageSource,
    paths: list[str],
    label_of: Callable[[str], str],
    layout: str,
    ingest: dict[str, Any],
) -> pd.DataFrame:
    """Label every file of `paths` with `label_of` (its `layout`), then check the labelled ones
    (threads)."""
    rows = {path: _label_row(source.location, path, label_of, layout) for path in paths}
    candidates = [path for path, row in rows.items() if row["label"]]
    check = partial(
        check_files, max_pixels=int(ingest["max_pixels"]), min_side=int(ingest["min_side"])
    )
    batches = map_batches(
        source, candidates, check, workers=ingest.get("workers"), description="ingest"
    )
    results = (result for batch in batches for result in batch)
    for path, result in zip(candidates, results, strict=True):
        rows[path].update(result)
    manifest = pd.DataFrame(list(rows.values()), columns=MANIFEST_COLUMNS)
    manifest["status"] = manifest["reason"].map(lambda reason: "rejected" if reason else "ok")
    manifest[["width", "height"]] = manifest[["width", "height"]].astype("Int32")
    return manifest.sort_values("path", ignore_index=True, kind="stable")


def _label_row(
    location: str, path: str, label_of: Callable[[str], str], layout: str
) -> dict[str, Any]:
    """The manifest row of one file before it is read: labelled, or rejected by its path."""
    row = {
        "source": location,
        "path": path,
        "label": "",
        "sha256": "",
        "width": None,
        "height": None,
        "format": "",
        "status": "",
        "reason": "",
        "detail": "",
    }
    if is_os_junk(path):
        row.update(reason="os_junk", detail="operating-system metadata file")
    elif not _is_utf8(path):
        row.update(
            path=path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
            reason="unreadable_name",
            detail="file name is not valid UTF-8",
        )
    elif label := label_of(path):
        row["label"] = label
    else:
        row.update(reason="unlabelled", detail=f"not where the {layout} layout expects")
    return row


def _class_folder_label(path: str) -> str:
    for folder in reversed(path.split("/")[:-1]):
        if label := CLASS_FOLDERS.get(folder.lower()):
            return label
    return ""


def _oxford_label(path: str) -> str:
    *folders, name = path.split("/")
    if folders and folders[-1].lower() != "images":
        return ""
    if not OXFORD_FILE_NAME.fullmatch(name):
        return ""
    return "cat" if name[0].isupper() else "dog"


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(key): int(count) for key, count in sorted(Counter(values).items())}
