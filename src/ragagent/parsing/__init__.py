"""Parsers turn one page batch into an OCR response in Mistral's shape."""
