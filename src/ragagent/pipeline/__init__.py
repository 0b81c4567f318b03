"""Ingestion steps: split, parse, reindex, describe, merge metadata, chunk, embed, index."""
