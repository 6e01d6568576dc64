"""The study's report: every variant side by side, as the original study's table and one figure."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
