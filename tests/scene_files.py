"""Held-out-style scenes on disk: JPEG with EXIF lens data, 16-bit PNG depth, and the exact
thin-lens reference rendered by the accumulation buffer (independent of the layered renderer).

The JPEG records where the lens focused as a camera does (EXIF SubjectArea at the object on the
focus plane, :func:`bokehcli.data.synth.simulated_af_area`), as `bokeh synth` sources do: the
render's focus target is then the camera's, not a guess from saliency."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.data.synth import simulated_af_area
from bokehcli.ops.color import linear_to_srgb
from bokehcli.render.accumulation import accumulation_render, pinhole_view
from photos import make_exif, write_depth_png, write_photo

MARGIN_PX = 16


def to_uint8(linear: torch.Tensor) -> np.ndarray:
    return np.rint(linear_to_srgb(linear).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (8-bit) on the interior, MARGIN_PX from the borders."""
    m = MARGIN_PX
    mse = np.mean((a[m:-m, m:-m].astype(np.float64) - b[m:-m, m:-m].astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


class SceneFiles:
    """One scene written as ``<folder>/<name>.jpg`` + ``<name>_depth.png``, with its reference."""

    def __init__(self, folder: Path, name: str, scene) -> None:
        self.scene, self.folder, self.name = scene, folder, name
        width, height = scene.width_px, scene.height_px
        rgb, depth = pinhole_view(scene.planes, width, height)
        self.photo = write_photo(folder / f"{name}.jpg", to_uint8(rgb),
                                 make_exif(focal_mm=scene.focal_mm, focus_m=scene.focus_m,
                                           focal_35mm=round(scene.focal_mm),
                                           subject_xy=simulated_af_area(depth.numpy(), scene.focus_m)))
        self.depth_png = write_depth_png(folder / f"{name}_depth.png", depth.numpy())

    def reference(self, f_number: str) -> np.ndarray:
        s = self.scene
        return to_uint8(accumulation_render(s.planes, s.lens(float(f_number)), s.width_px, s.height_px))

    def input(self) -> np.ndarray:
        with Image.open(self.photo) as im:
            return np.asarray(im)

    def render(self, f_number: str, out: Path, *options: str) -> np.ndarray:
        """`bokeh render` through the CLI; returns the output pixels."""
        result = CliRunner().invoke(app, ["render", str(self.photo), "--f", f_number, "--out", str(out),
                                          "--overwrite", *options])
        assert result.exit_code == 0, result.output
        with Image.open(out / f"{self.name}_bokeh_f{f_number}.jpg") as im:
            return np.asarray(im)
