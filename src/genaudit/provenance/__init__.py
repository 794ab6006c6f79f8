"""Provenance: C2PA manifests (sign, read, validate) and development certificates."""
