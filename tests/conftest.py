"""Shared fixtures: where the real PDFs are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS_DIR = REPO_ROOT / "documents"


def corpus_dir() -> Path | None:
    """The directory of PDFs that may not be redistributed, from RAGAGENT_CORPUS_DIR."""
    value = os.environ.get("RAGAGENT_CORPUS_DIR")
    return Path(value) if value else None


@pytest.fixture
def corpus_pdf():
    """Return a function that finds a corpus PDF by name, or skips (fails when CI=true) if it is missing."""

    def find(name: str) -> Path:
        directory = corpus_dir()
        path = directory / name if directory else None
        if path is not None and path.is_file():
            return path
        message = f"{name} not found: set RAGAGENT_CORPUS_DIR to the directory of the evaluation corpus"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    return find
