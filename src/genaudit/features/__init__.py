"""Shared image features, below the engines: perceptual hashes (:mod:`.hashing`) and
EfficientNet-Lite0 embeddings (:mod:`.embedding`).

Checks and engines (memorization, detector, ...) import from here; nothing here imports an engine,
a check, the Auditor or the CLI. Importing this package loads no heavy library.
"""
