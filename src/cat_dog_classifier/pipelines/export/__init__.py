"""Export the registered champion (and optionally other variants) to TF.js for the web page."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
