"""Project datasets that kedro-datasets does not provide."""

from .npz_dataset import NpzDataset, StreamedArray
from .symlink_dataset import SymlinkDataset

__all__ = ["NpzDataset", "StreamedArray", "SymlinkDataset"]
