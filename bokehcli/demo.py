"""`make demo`: example photos made by the project, rendered at f/1.8, and a contact sheet.

    python -m bokehcli.demo --out out

Writes ``out/examples/demo<i>.jpg`` (all-in-focus photos with EXIF focal length and focus
distance), renders them exactly as `bokeh render photo.jpg --f 1.8` does, and assembles
``out/contact_sheet.jpg`` (before | after, one row per photo).

Then real photos, portraits first: camera photos of ``../shared/exif-corpus`` (when it is beside
the repository) and two that scikit-image ships, rendered with the look of a fast full-frame lens
(`bokeh render photo.jpg --f 1.8 --equivalent`, depth from the photo's own cues), into
``out/real_contact_sheet.jpg``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .data.realbokeh import SOURCE_F_NUMBER
from .data.scenes import random_scene
from .data.synth import write_jpeg
from .files import atomic_path
from .imageio import load_photo
from .pipeline import RenderSettings, render_file
from .render.accumulation import pinhole_view

SEEDS = (11, 23, 42)
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "exif-corpus"   # ../shared beside the repo
REAL_PHOTOS = ("Canon/Canon EOS 7D.jpg", "Canon/Canon IXUS v2.jpg", "Canon/Canon EOS REBEL T3i.jpg",
               "Minolta/Minolta DiMAGE S404.jpg")
SKIMAGE_PHOTOS = ("astronaut", "coffee")
SIZE_WH = (960, 640)
F_NUMBER = "1.8"


def make_example(folder: Path, index: int, seed: int) -> Path:
    """An all-in-focus photo with EXIF lens data."""
    width, height = SIZE_WH
    scene = random_scene(seed, width, height)
    rgb_lin, _ = pinhole_view(scene.planes, width, height)
    photo = folder / f"demo{index}.jpg"
    write_jpeg(photo, rgb_lin, scene.focal_mm, SOURCE_F_NUMBER, scene.focus_m)
    return photo


def real_photos(folder: Path) -> list[Path]:
    """The corpus photos that are there, then scikit-image's, written as JPEGs without EXIF."""
    from skimage import data

    photos = [CORPUS / name for name in REAL_PHOTOS if (CORPUS / name).is_file()]
    for name in SKIMAGE_PHOTOS:
        photo = folder / f"{name}.jpg"
        with atomic_path(photo) as tmp:
            Image.fromarray(getattr(data, name)()).save(tmp, format="JPEG", quality=95)
        photos.append(photo)
    return photos


def contact_sheet(pairs: list[tuple[Path, Path]], out: Path, thumb_width: int = 480,
                  labels: tuple[str, str] = ("before (f/22)", f"after (f/{F_NUMBER})")) -> None:
    rows = []
    for before, after in pairs:
        images = [Image.fromarray(np.uint8(np.rint(load_photo(p).srgb * 255))) for p in (before, after)]
        scale = thumb_width / images[0].width
        size = (thumb_width, round(images[0].height * scale))
        row = Image.new("RGB", (2 * thumb_width + 8, size[1]), "white")
        for i, (im, label) in enumerate(zip(images, labels)):
            row.paste(im.resize(size, Image.LANCZOS), (i * (thumb_width + 8), 0))
            ImageDraw.Draw(row).text((i * (thumb_width + 8) + 8, 8), label, fill="white")
        rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + 8 for r in rows) - 8), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height + 8
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="JPEG", quality=90)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args(argv)
    examples = args.out / "examples"
    examples.mkdir(parents=True, exist_ok=True)
    settings = RenderSettings(f_number_text=F_NUMBER, out_dir=args.out, overwrite=True)
    pairs = []
    for index, seed in enumerate(SEEDS):
        photo = make_example(examples, index, seed)
        start = time.perf_counter()
        result = render_file(photo, settings)
        print(f"{photo} -> {result.output} ({time.perf_counter() - start:.1f} s, "
              f"largest blur {result.max_blur_px:.0f} px)")
        pairs.append((photo, result.output))
    contact_sheet(pairs, args.out / "contact_sheet.jpg")
    print(f"contact sheet: {args.out / 'contact_sheet.jpg'}")
    real_pairs = []
    for photo in real_photos(examples):
        start = time.perf_counter()
        result = render_file(photo, RenderSettings(f_number_text=F_NUMBER, out_dir=args.out / "real", overwrite=True,
                                                   equivalent=True))
        print(f"{photo} -> {result.output} ({time.perf_counter() - start:.1f} s, {result.focal_mm:.0f} mm full-frame "
              f"equivalent, focus on {result.focus_point_source}, largest blur {result.max_blur_px:.0f} px)")
        real_pairs.append((photo, result.output))
    contact_sheet(real_pairs, args.out / "real_contact_sheet.jpg",
                  labels=("photo as taken", f"f/{F_NUMBER} full-frame look"))
    print(f"real photos: {args.out / 'real_contact_sheet.jpg'}")


if __name__ == "__main__":
    main()
