"""Training: one template pipeline reused under a namespace per model variant."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
