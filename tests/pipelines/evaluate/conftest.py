"""Evaluation test fixtures."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def gray_photos(petimages_zip: Path) -> np.ndarray:
    """Six real photos (three cats, three dogs) as 64x64 grayscale uint8, shape (6, 64, 64, 1)."""
    names = [f"PetImages/{kind}/{n}.jpg" for kind in ("Cat", "Dog") for n in range(3)]
    with zipfile.ZipFile(petimages_zip) as source:
        photos = [Image.open(io.BytesIO(source.read(name))).convert("L") for name in names]
    return np.stack([np.asarray(photo.resize((64, 64))) for photo in photos])[..., None]
