"""Memorization: perceptual-hash index of training data and near-copy search of generated images."""

from .index import HammingIndex, as_codes, popcount64

__all__ = ["HammingIndex", "as_codes", "popcount64"]
