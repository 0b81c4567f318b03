"""Describers give every table and figure a title and a description for retrieval."""
