"""Memorization: perceptual-hash index of training data and near-copy search of generated images."""

from .index import HammingIndex, as_codes, popcount64
from .rule import Candidate, match_order, matching_ids
from .stats import wilson_interval

__all__ = ["Candidate", "HammingIndex", "as_codes", "match_order", "matching_ids", "popcount64", "wilson_interval"]
