"""Project datasets that kedro-datasets does not provide."""

from .binary_file import BinaryFileDataset
from .mlflow_tags import MlflowTagsDataset
from .npz_dataset import NpzDataset, StreamedArray
from .symlink_dataset import SymlinkDataset

__all__ = [
    "BinaryFileDataset",
    "MlflowTagsDataset",
    "NpzDataset",
    "StreamedArray",
    "SymlinkDataset",
]
