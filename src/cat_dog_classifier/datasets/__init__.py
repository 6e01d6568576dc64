"""Project datasets that kedro-datasets does not provide."""

from .npz_dataset import NpzDataset, StreamedArray

__all__ = ["NpzDataset", "StreamedArray"]
