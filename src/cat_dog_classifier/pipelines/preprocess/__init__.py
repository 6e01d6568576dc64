"""Preprocessing: a stratified split and one uint8 array set per image size and colour mode."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
