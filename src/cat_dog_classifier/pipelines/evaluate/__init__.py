"""Evaluation on the test split, MLflow logging, registration and the champion choice."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
