"""Ingestion: a manifest of every source file, labelled and checked, and a report of it."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
