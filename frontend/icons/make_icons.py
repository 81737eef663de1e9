#!/usr/bin/env python3
"""Draws the app's icons (run once; the PNGs are committed): a white speech bubble with three
dots on the app's accent colour (--accent in frontend/style.css). Plain Python (zlib), no
imaging library: `python3 frontend/icons/make_icons.py` rewrites the three files here.

- icon-192.png, icon-512.png: rounded square, transparent corners ("any").
- maskable-512.png: full-bleed square, the drawing inside the central 80 % safe zone
  ("maskable": the launcher cuts its own shape out of it).
"""

import os
import struct
import zlib

ACCENT = (0x3B, 0x63, 0xF3)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # per axis: 16 samples per pixel smooth the edges


def inside_rounded_square(x, y, radius):
    """(x, y) in the unit square, corners rounded by `radius`."""
    cx = min(max(x, radius), 1 - radius)
    cy = min(max(y, radius), 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def colour_at(x, y, scale):
    """The colour at (x, y) of the drawing (unit square), shrunk around the centre by `scale`:
    None outside the bubble, WHITE on it, ACCENT on its dots."""
    x = (x - 0.5) / scale + 0.5
    y = (y - 0.5) / scale + 0.5
    # The bubble: an ellipse, with a tail down to the lower left.
    ex, ey = (x - 0.5) / 0.34, (y - 0.46) / 0.27
    in_bubble = ex * ex + ey * ey <= 1
    # The tail: a triangle (0.30, 0.62) (0.44, 0.68) (0.24, 0.82).
    def side(ax, ay, bx, by):
        return (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    s1 = side(0.30, 0.62, 0.44, 0.68)
    s2 = side(0.44, 0.68, 0.24, 0.82)
    s3 = side(0.24, 0.82, 0.30, 0.62)
    in_tail = (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)
    if not (in_bubble or in_tail):
        return None
    for dx in (0.36, 0.5, 0.64):
        if (x - dx) ** 2 + (y - 0.46) ** 2 <= 0.045**2:
            return ACCENT
    return WHITE


def draw(size, maskable):
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter: none
        for px in range(size):
            r = g = b = a = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x = (px + (sx + 0.5) / SAMPLES) / size
                    y = (py + (sy + 0.5) / SAMPLES) / size
                    if not maskable and not inside_rounded_square(x, y, 0.18):
                        continue
                    colour = colour_at(x, y, 0.8 if maskable else 1.0) or ACCENT
                    r, g, b, a = r + colour[0], g + colour[1], b + colour[2], a + 255
            n = SAMPLES * SAMPLES
            covered = a // 255
            if covered:
                row += bytes((r // covered, g // covered, b // covered, a // n))
            else:
                row += bytes(4)
        rows.append(bytes(row))
    return png(size, b"".join(rows))


def png(size, raw):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for name, size, maskable in [
        ("icon-192.png", 192, False),
        ("icon-512.png", 512, False),
        ("maskable-512.png", 512, True),
    ]:
        with open(os.path.join(here, name), "wb") as out:
            out.write(draw(size, maskable))
