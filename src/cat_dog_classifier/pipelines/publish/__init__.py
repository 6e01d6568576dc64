"""Point the registry's champion alias at the champion DVC recorded (champion.json and .keras)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
