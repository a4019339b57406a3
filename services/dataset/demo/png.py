"""A minimal PNG encoder and canvas, so demo images need no imaging library."""

from __future__ import annotations

import struct
import zlib

Colour = tuple[int, int, int]


class Canvas:
    """An RGB image as rows of bytes."""

    def __init__(self, width: int, height: int, background: Colour) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def put(self, x: int, y: int, colour: Colour) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset : offset + 3] = bytes(colour)

    def fill_rect(self, x: int, y: int, width: int, height: int, colour: Colour) -> None:
        row = bytes(colour) * width
        for line in range(max(y, 0), min(y + height, self.height)):
            start = (line * self.width + x) * 3
            self.pixels[start : start + len(row)] = row

    def fill_circle(self, cx: int, cy: int, radius: int, colour: Colour) -> None:
        for y in range(cy - radius, cy + radius + 1):
            for x in range(cx - radius, cx + radius + 1):
                if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius:
                    self.put(x, y, colour)

    def fill_triangle(self, x: int, y: int, size: int, colour: Colour) -> None:
        """An upward triangle whose bounding box is (x, y, size, size)."""
        for row in range(size):
            half = row // 2
            middle = x + size // 2
            for column in range(middle - half, middle + half + 1):
                self.put(column, y + row, colour)

    def speckle(self, points: list[tuple[int, int]], colour: Colour) -> None:
        for x, y in points:
            self.put(x, y, colour)

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * stride : (row + 1) * stride]) for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
