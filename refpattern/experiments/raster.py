"""A small built-in renderer: PNG encoding and plain charts with NumPy only.

Used for the report's figures when matplotlib is not installed (:mod:`.plots` prefers
matplotlib).  Charts carry no text: axes, grid lines and coloured marks only; the report puts
the title, axis ranges and the colour legend in the figure's caption (:func:`legend_text`).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PALETTE = [("blue", (31, 119, 180)), ("orange", (255, 127, 14)), ("green", (44, 160, 44)), ("red", (214, 39, 40)),
           ("purple", (148, 103, 189)), ("brown", (140, 86, 75)), ("pink", (227, 119, 194)), ("grey", (127, 127, 127)),
           ("olive", (188, 189, 34)), ("cyan", (23, 190, 207)), ("navy", (0, 0, 128)), ("black", (0, 0, 0))]
"""Series colours in order (matplotlib's tab10, then navy and black)."""


def encode_png(image) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image (or (H, W) grey), 8 bits, no interlace."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    height, width = image.shape[:2]
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def decode_png_size(png: bytes) -> tuple[int, int]:
    """``(height, width)`` from a PNG header (for tests)."""
    width, height = struct.unpack(">II", png[16:24])
    return height, width


def grey(values) -> np.ndarray:
    """Values in [0, 1] -> (…, 3) uint8 grey."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0, 1)
    return np.repeat((v * 255).round().astype(np.uint8)[..., None], 3, axis=-1)


def blue_white_red(values) -> np.ndarray:
    """Values in [−1, 1] -> (…, 3) uint8: −1 blue, 0 white, +1 red (matplotlib's "bwr")."""
    v = np.clip(np.asarray(values, dtype=np.float64), -1, 1)
    r = np.where(v < 0, 1 + v, 1.0)
    g = 1 - np.abs(v)
    b = np.where(v > 0, 1 - v, 1.0)
    return (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)


def tile_grid(tiles, scale: int = 6, gap: int = 3) -> np.ndarray:
    """Arrange a rows×cols nested list of (h, w, 3) uint8 tiles, each upscaled by ``scale``, on white."""
    rows, cols = len(tiles), len(tiles[0])
    h, w = tiles[0][0].shape[:2]
    th, tw = h * scale, w * scale
    canvas = np.full((rows * (th + gap) + gap, cols * (tw + gap) + gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            big = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)
            top, left = gap + i * (th + gap), gap + j * (tw + gap)
            canvas[top:top + th, left:left + tw] = big
    return canvas


class Canvas:
    """A plot area ``x ∈ [x0, x1]``, ``y ∈ [y0, y1]`` on a white RGB image with a margin."""

    def __init__(self, x_range, y_range, width: int = 640, height: int = 360, margin: int = 24):
        self.image = np.full((height, width, 3), 255, dtype=np.uint8)
        self.x0, self.x1 = map(float, x_range)
        self.y0, self.y1 = map(float, y_range)
        self.width, self.height, self.margin = width, height, margin
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1
        if self.y1 == self.y0:
            self.y1 = self.y0 + 1

    def px(self, x, y):
        """Data -> pixel coordinates (column, row)."""
        m = self.margin
        col = m + (np.asarray(x, dtype=float) - self.x0) / (self.x1 - self.x0) * (self.width - 2 * m)
        row = self.height - m - (np.asarray(y, dtype=float) - self.y0) / (self.y1 - self.y0) * (self.height - 2 * m)
        return col, row

    def rect(self, x_a, y_a, x_b, y_b, color):
        (ca, ra), (cb, rb) = self.px(x_a, y_a), self.px(x_b, y_b)
        top, bottom = int(round(min(ra, rb))), int(round(max(ra, rb)))
        left, right = int(round(min(ca, cb))), int(round(max(ca, cb)))
        top, left = max(top, 0), max(left, 0)
        self.image[top:max(bottom, top + 1), left:max(right, left + 1)] = color

    def line(self, xs, ys, color, width: int = 2, dashed: bool = False):
        """A polyline through the data points (sampled densely; ``width`` pixels thick)."""
        cols, rows = self.px(xs, ys)
        for k in range(len(cols) - 1):
            steps = int(max(abs(cols[k + 1] - cols[k]), abs(rows[k + 1] - rows[k]), 1)) * 2
            t = np.linspace(0, 1, steps + 1)
            c = cols[k] + t * (cols[k + 1] - cols[k])
            r = rows[k] + t * (rows[k + 1] - rows[k])
            if dashed:
                keep = (np.arange(len(t)) // 8) % 2 == 0
                c, r = c[keep], r[keep]
            for dc in range(-(width // 2), width - width // 2):
                for dr in range(-(width // 2), width - width // 2):
                    cc = np.clip(np.round(c).astype(int) + dc, 0, self.width - 1)
                    rr = np.clip(np.round(r).astype(int) + dr, 0, self.height - 1)
                    self.image[rr, cc] = color

    def axes(self, y_grid=()):
        """Light grid lines at the given y values, then the axis box."""
        light = (225, 225, 225)
        for y in y_grid:
            self.line([self.x0, self.x1], [y, y], light, width=1)
        if self.y0 < 0 < self.y1:
            self.line([self.x0, self.x1], [0, 0], (120, 120, 120), width=1)
        box = (60, 60, 60)
        self.line([self.x0, self.x1, self.x1, self.x0, self.x0], [self.y0, self.y0, self.y1, self.y1, self.y0], box, width=1)

    def png(self) -> bytes:
        return encode_png(self.image)


def legend_text(labels) -> str:
    """``colour = label`` pairs in palette order, for a caption."""
    return "; ".join(f"{PALETTE[i % len(PALETTE)][0]} = {label}" for i, label in enumerate(labels))
