"""Contact sheets of the labels drawn on their photos, to check them by eye.

Subject polygons in green with a cross at the centroid (the focus-at point), backgrounds in
magenta numbered in label order, foregrounds in cyan numbered F1, F2, ..., a grid every 10 % of
the width and height (labels are normalised coordinates); the file name and the note under each
photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..files import atomic_path
from ..imageio import load_photo
from .real_photo import Label, materialise, polygon_centroid

CELL_PX = 640          # longest side of a photo on the sheet
CAPTION_PX = 34
COLUMNS, ROWS = 3, 2
SUBJECT_RGB, BACKGROUND_RGB, FOREGROUND_RGB, GRID_RGB = (0, 255, 0), (255, 0, 255), (0, 200, 255), (255, 255, 0)


def draw_label(label: Label, srgb: np.ndarray) -> Image.Image:
    """The photo ((H, W, 3) sRGB in [0, 1], upright) shrunk to CELL_PX with the label drawn."""
    image = Image.fromarray(np.clip(np.rint(srgb * 255), 0, 255).astype(np.uint8))
    image.thumbnail((CELL_PX, CELL_PX))
    width, height = image.size
    draw = ImageDraw.Draw(image)
    for tenth in range(1, 10):
        x, y = tenth * width / 10, tenth * height / 10
        draw.line([(x, 0), (x, height)], fill=GRID_RGB)
        draw.line([(0, y), (width, y)], fill=GRID_RGB)
        draw.text((x + 2, 2), f"{tenth / 10:.1f}", fill=GRID_RGB)
        draw.text((2, y + 2), f"{tenth / 10:.1f}", fill=GRID_RGB)

    def scaled(poly):
        return [(x * width, y * height) for x, y in poly]

    draw.polygon(scaled(label.subject), outline=SUBJECT_RGB, width=3)
    cx, cy = polygon_centroid(label.subject)
    cx, cy = cx * width, cy * height
    draw.line([(cx - 8, cy), (cx + 8, cy)], fill=SUBJECT_RGB, width=2)
    draw.line([(cx, cy - 8), (cx, cy + 8)], fill=SUBJECT_RGB, width=2)
    for polygons, rgb, prefix in ((label.backgrounds, BACKGROUND_RGB, ""), (label.foregrounds, FOREGROUND_RGB, "F")):
        for number, poly in enumerate(polygons, start=1):
            draw.polygon(scaled(poly), outline=rgb, width=3)
            px, py = polygon_centroid(poly)
            draw.text((px * width, py * height), f"{prefix}{number}", fill=rgb)
    return image


def write_sheets(labels: list[Label], corpus: Path, out_dir: Path, scratch: Path) -> list[Path]:
    """``out_dir/labels_<n>.png``, COLUMNS x ROWS photos each, in label order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    per_sheet = COLUMNS * ROWS
    paths = []
    for first in range(0, len(labels), per_sheet):
        sheet = Image.new("RGB", (COLUMNS * CELL_PX, ROWS * (CELL_PX + CAPTION_PX)), "white")
        draw = ImageDraw.Draw(sheet)
        for slot, label in enumerate(labels[first:first + per_sheet]):
            x, y = (slot % COLUMNS) * CELL_PX, (slot // COLUMNS) * (CELL_PX + CAPTION_PX)
            sheet.paste(draw_label(label, load_photo(materialise(label, corpus, scratch)).srgb), (x, y))
            draw.text((x + 4, y + CELL_PX + 2), f"{first + slot + 1}. {label.file}", fill="black")
            draw.text((x + 4, y + CELL_PX + 16), label.note[:100], fill="black")
        path = out_dir / f"labels_{first // per_sheet + 1}.png"
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        paths.append(path)
    return paths
