"""Memorization: perceptual-hash index of training data and near-copy search of generated images.

``build_index`` hashes training sources into a :class:`TrainingIndex` (in-process or on Dask);
:class:`NearCopySearch` finds, scores and judges each image's candidates (hash k-NN → embedding
similarity → registration → :func:`matching_ids`); :func:`query_index` answers radius and k-NN
queries of images (``genaudit index query``); :func:`wilson_interval` gives rates' intervals.
Importing this package loads numpy only.
"""

from .build import BuildReport, NothingToIndexError, build_index
from .index import HammingIndex, IndexFileError, TrainingIndex, as_codes, popcount64
from .query import Neighbour, QueryResult, query_index
from .rule import Candidate, match_order, matching_ids
from .search import ImageMatches, NearCopySearch, SearchParams
from .sources import SourceImages, is_idx_source, resolve_idx
from .stats import wilson_interval

__all__ = ["BuildReport", "Candidate", "HammingIndex", "ImageMatches", "IndexFileError", "NearCopySearch",
           "Neighbour", "NothingToIndexError", "QueryResult", "SearchParams", "SourceImages", "TrainingIndex",
           "as_codes", "build_index", "is_idx_source", "match_order", "matching_ids", "popcount64", "query_index",
           "resolve_idx", "wilson_interval"]
