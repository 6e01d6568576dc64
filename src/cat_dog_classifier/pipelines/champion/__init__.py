"""The champion: the variant the web page serves, chosen among the evaluated variants."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
