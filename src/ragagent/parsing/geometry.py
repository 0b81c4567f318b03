"""Page geometry for the offline parser: boxes, rotations and the page objects it reads.

Coordinates are PDF points with the origin at the top-left and y growing
downwards. A `Frame` maps PDF user space into such coordinates after turning
the page by a multiple of 90 degrees. The display frame follows the page's
/Rotate entry. The reading frame turns the page so that its text runs left
to right.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    x0: float
    top: float
    x1: float
    bottom: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center_x(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def center_y(self) -> float:
        return (self.top + self.bottom) / 2

    def contains_point(self, x: float, y: float, margin: float = 0.0) -> bool:
        return self.x0 - margin <= x <= self.x1 + margin and self.top - margin <= y <= self.bottom + margin

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.top, other.top), max(self.x1, other.x1), max(self.bottom, other.bottom))


@dataclass(frozen=True)
class Frame:
    """A clockwise turn of the page by `rotation` degrees, mapping user space to top-down points."""

    rotation: int
    left: float
    bottom: float
    right: float
    top: float

    @property
    def width(self) -> float:
        unrotated = self.right - self.left
        return unrotated if self.rotation in (0, 180) else self.top - self.bottom

    @property
    def height(self) -> float:
        unrotated = self.top - self.bottom
        return unrotated if self.rotation in (0, 180) else self.right - self.left

    def point(self, x: float, y: float) -> tuple[float, float]:
        u = x - self.left
        v = self.top - y
        page_width = self.right - self.left
        page_height = self.top - self.bottom
        if self.rotation == 90:
            return page_height - v, u
        if self.rotation == 180:
            return page_width - u, page_height - v
        if self.rotation == 270:
            return v, page_width - u
        return u, v

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        """Map a user-space rectangle given as (left, bottom, right, top)."""
        xa, ya = self.point(left, bottom)
        xb, yb = self.point(right, top)
        return Box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))

    def turned(self, rotation: int) -> Frame:
        return Frame((self.rotation + rotation) % 360, self.left, self.bottom, self.right, self.top)


@dataclass
class Word:
    text: str
    box: Box
    size: float
    bold: bool = False


@dataclass
class Rule:
    """A horizontal or vertical line segment drawn on the page, such as a table border."""

    box: Box

    @property
    def horizontal(self) -> bool:
        return self.box.width >= self.box.height


@dataclass
class PageImage:
    box: Box
    display_box: Box


@dataclass
class PageContent:
    """Words, rules and images of one page, in reading-frame coordinates."""

    frame: Frame
    display: Frame
    words: list[Word] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    images: list[PageImage] = field(default_factory=list)
