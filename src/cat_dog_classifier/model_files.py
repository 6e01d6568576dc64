"""Model files: their identity across DVC, MLflow and the web page, and loading them.

A model is identified by DVC's hash of its `.keras` file, the MD5 of its bytes (as dvc.lock records
it): the registry tags versions with it, champion.json and the web manifest name it.
"""

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


def model_md5(model_file: bytes) -> str:
    """A model's identity: the MD5 of its file's bytes, DVC's hash of it."""
    return hashlib.md5(model_file).hexdigest()


def load_keras_model(model_file: bytes) -> "keras.Model":
    """A Keras model from the bytes of a `.keras` file."""
    import keras  # noqa: PLC0415 - TensorFlow loads here, only when a model is needed

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.keras"
        path.write_bytes(model_file)
        return keras.saving.load_model(path)
