"""A Keras model saved so that the same model always gives the same file: DVC's MD5 of it is the
model's identity (model_files), so the file must not depend on when it was written."""

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset

if TYPE_CHECKING:
    import keras

# Every member of a model file is dated ZIP's earliest date (as reproducible builds do) and carries
# the same Unix permissions: Keras dates each with the save time.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_FILE_MODE = 0o644 << 16
# Keras writes its version and the save time there, and the model's configuration in the other
# (keras/src/saving/saving_lib.py).
_KERAS_METADATA = "metadata.json"
_KERAS_CONFIG = "config.json"


class KerasModelDataset(AbstractDataset["keras.Model", "keras.Model"]):
    """Loads a `.keras` file as a Keras model; saves a model as `keras_model_file` writes it
    (kedro-datasets' TensorFlowModelDataset writes Keras' own file, which differs on every save).

    Example catalog entry::

        "{variant}.model@keras":
          type: cat_dog_classifier.datasets.KerasModelDataset
          filepath: data/06_models/variants/{variant}.keras
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> "keras.Model":
        import keras  # noqa: PLC0415 - TensorFlow loads here, only when a model is read

        return keras.saving.load_model(self._filepath)

    def save(self, data: "keras.Model") -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        self._filepath.write_bytes(keras_model_file(data))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def keras_model_file(model: "keras.Model") -> bytes:
    """`model` as the bytes of a `.keras` file that depend on the model alone: Keras' own file
    (`canonical_keras_file`). Keras reads it as its own; the weights (HDF5, as h5py writes them)
    carry no time of their own."""
    import keras  # noqa: PLC0415 - TensorFlow loads here, only when a model is saved

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.keras"
        keras.saving.save_model(model, path)
        return canonical_keras_file(path.read_bytes())


def canonical_keras_file(keras_file: bytes) -> bytes:
    """A `.keras` file's bytes without what differs from one save of the same model to the next:
    its members undated and in name order, metadata.json without `date_saved`, and in config.json
    the objects several layers share (their dtype policy...) numbered in order of appearance
    rather than by their memory address (`shared_object_id`, Python's `id()`)."""
    rewritten = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(keras_file)) as source,
        zipfile.ZipFile(rewritten, "w") as target,
    ):
        for member in sorted(source.infolist(), key=lambda m: m.filename):
            data = source.read(member)
            if member.filename == _KERAS_METADATA:
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata, sort_keys=True).encode()
            elif member.filename == _KERAS_CONFIG:
                data = json.dumps(_numbered_shared_objects(json.loads(data), {})).encode()
            info = zipfile.ZipInfo(member.filename, date_time=_ZIP_DATE)
            info.compress_type = member.compress_type
            info.create_system = 3  # Unix, wherever it is written
            info.external_attr = _ZIP_FILE_MODE
            target.writestr(info, data)
    return rewritten.getvalue()


def _numbered_shared_objects(value: Any, numbers: dict[int, int]) -> Any:
    """`value` with each `shared_object_id` replaced by 1, 2... in order of first appearance (the
    same object keeps one number, so Keras still shares it on loading)."""
    if isinstance(value, list):
        return [_numbered_shared_objects(item, numbers) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: numbers.setdefault(item, len(numbers) + 1)
        if key == "shared_object_id"
        else _numbered_shared_objects(item, numbers)
        for key, item in value.items()
    }
