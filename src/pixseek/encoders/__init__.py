"""Encoders: images and texts into one L2-normalised vector space."""

from .base import Encoder, ModelSpec, l2_normalize
from .registry import load_encoder, normalize_spec, register

__all__ = ["Encoder", "ModelSpec", "l2_normalize", "load_encoder", "normalize_spec", "register"]
