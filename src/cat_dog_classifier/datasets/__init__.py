"""Project datasets that kedro-datasets does not provide."""

from .binary_file import BinaryFileDataset
from .keras_model import KerasModelDataset
from .mlflow_tags import MlflowTagsDataset
from .npz_dataset import NpzDataset, StreamedArray
from .symlink_dataset import SymlinkDataset

__all__ = [
    "BinaryFileDataset",
    "KerasModelDataset",
    "MlflowTagsDataset",
    "NpzDataset",
    "StreamedArray",
    "SymlinkDataset",
]
