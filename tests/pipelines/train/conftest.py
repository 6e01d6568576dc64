"""Training test fixtures: small contract-2 sets decoded from real photos of the shared zip."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SPLITS = {"train": 40, "validation": 12, "test": 12}  # photos per split, half cats, half dogs


def photo_set(zip_path: Path, size: int, mode: str) -> dict[str, np.ndarray]:
    """`{split}_images/labels/paths` arrays like the preprocess pipeline's, from real photos."""
    arrays: dict[str, np.ndarray] = {}
    start = 0
    with zipfile.ZipFile(zip_path) as source:
        for split, count in SPLITS.items():
            members = [
                (f"PetImages/{folder}/{number}.jpg", label)
                for number in range(start, start + count // 2)
                for label, folder in enumerate(("Cat", "Dog"))
            ]
            start += count // 2
            images = [
                np.asarray(
                    Image.open(io.BytesIO(source.read(name))).convert(mode).resize((size, size))
                )
                for name, _ in members
            ]
            stacked = np.stack(images).astype(np.uint8)
            arrays[f"{split}_images"] = stacked[..., None] if mode == "L" else stacked
            arrays[f"{split}_labels"] = np.array([label for _, label in members], dtype=np.uint8)
            arrays[f"{split}_paths"] = np.array([name for name, _ in members])
    return arrays


@pytest.fixture(scope="session")
def gray_set(small_source_zip: Path) -> dict[str, np.ndarray]:
    return photo_set(small_source_zip, 48, "L")


@pytest.fixture(scope="session")
def rgb_set(small_source_zip: Path) -> dict[str, np.ndarray]:
    return photo_set(small_source_zip, 64, "RGB")
