"""Fit images under a provider's request size limit.

Model APIs limit an image by its size after base64 encoding: Bedrock's Converse
API rejects an image over 5 MB encoded, which is about 3.75 MB of raw bytes.
"""

from __future__ import annotations

import base64
import io
import logging
import math

from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

BEDROCK_IMAGE_BASE64_LIMIT = 5 * 1024 * 1024
SCALE_STEP = 0.75
MIN_SIDE = 32
JPEG_QUALITY = 85


def base64_size(byte_count: int) -> int:
    """Return the length of the base64 encoding of `byte_count` bytes, padding included."""
    return 4 * math.ceil(byte_count / 3)


def fit_image(data: bytes, max_base64_bytes: int = BEDROCK_IMAGE_BASE64_LIMIT) -> tuple[bytes, str]:
    """Return the image and its format ("png" or "jpeg"), downscaled until its base64 encoding fits.

    An image that already fits is returned unchanged. A larger one is re-encoded
    (PNG stays PNG, anything else becomes JPEG) at 75% of its previous width and
    height until it fits. Raises ValueError for bytes that are not an image, or
    when even a tiny version does not fit the limit.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"image of {len(data)} bytes cannot be decoded: {error}") from error

    image_format = "png" if image.format == "PNG" else "jpeg"
    if base64_size(len(data)) <= max_base64_bytes and image.format in ("PNG", "JPEG"):
        return data, image_format

    if image_format == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")

    width, height = image.size
    while True:
        encoded = _encode(image.resize((width, height), Image.LANCZOS), image_format)
        if base64_size(len(encoded)) <= max_base64_bytes:
            logger.info("Downscaled image from %d to %d bytes (%dx%d)", len(data), len(encoded), width, height)
            return encoded, image_format
        if min(width, height) <= MIN_SIDE:
            raise ValueError(f"image cannot be made smaller than {max_base64_bytes} bytes in base64")
        width = max(MIN_SIDE, int(width * SCALE_STEP))
        height = max(MIN_SIDE, int(height * SCALE_STEP))


def _encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
