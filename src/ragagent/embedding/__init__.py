"""Embedders turn chunk texts and queries into vectors."""
