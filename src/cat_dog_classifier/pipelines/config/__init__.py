"""Kedro's effective parameters, written where DVC reads them (kedro_params.yaml)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
