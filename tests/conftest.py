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


class SamBuild:
    """The outcome of one `sam build` of the repository."""

    def __init__(self, returncode: int, output: str, seconds: float, build_dir: Path) -> None:
        self.returncode = returncode
        self.output = output
        self.seconds = seconds
        self.build_dir = build_dir


@pytest.fixture(scope="session")
def sam_build() -> SamBuild:
    """Run `sam build` once per test session; the build and the package size tests share it."""
    import shutil
    import subprocess
    import time

    if shutil.which("sam") is None:
        pytest.skip("aws-sam-cli is not installed: pip install -e '.[dev]'")
    started = time.monotonic()
    completed = subprocess.run(
        ["sam", "build"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        timeout=1800,
    )
    output = completed.stdout[-2000:] + completed.stderr[-2000:]
    return SamBuild(completed.returncode, output, time.monotonic() - started, REPO_ROOT / ".aws-sam" / "build")
