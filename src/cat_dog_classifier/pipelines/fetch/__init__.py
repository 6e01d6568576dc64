"""Where the photos come from: `ingest.source` resolved on this machine, linked at data/01_raw."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
