"""Project datasets that kedro-datasets does not provide."""

from .npz_dataset import NpzDataset

__all__ = ["NpzDataset"]
