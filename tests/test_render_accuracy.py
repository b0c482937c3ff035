"""Renderer accuracy against the exact accumulation-buffer reference, end to end through the CLI.

Layered scenes of fronto-parallel textured planes are written as JPEG (EXIF focal length and
SubjectDistance) with a 16-bit PNG depth map, rendered with `bokeh render --depth`, and compared
on the image interior with the thin-lens reference (average of pinhole views over the aperture,
which models partial occlusion exactly). The slow variant is the issue's 768x512 acceptance set.
"""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.data.scenes import fronto_parallel_scene
from bokehcli.ops.color import linear_to_srgb
from bokehcli.render.accumulation import accumulation_render, pinhole_view
from photos import make_exif, write_depth_png, write_photo

MARGIN_PX = 16


def to_uint8(linear: torch.Tensor) -> np.ndarray:
    return np.rint(linear_to_srgb(linear).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


def mean_psnr(tmp_path, seeds, width, height, f_numbers=("1.8", "4")):
    scores = []
    for seed in seeds:
        scene = fronto_parallel_scene(seed, width, height)
        rgb, depth = pinhole_view(scene.planes, width, height)
        photo = write_photo(tmp_path / f"s{seed}.jpg", to_uint8(rgb),
                            make_exif(focal_mm=scene.focal_mm, focus_m=scene.focus_m,
                                      focal_35mm=round(scene.focal_mm)))
        depth_png = write_depth_png(tmp_path / f"s{seed}_depth.png", depth.numpy())
        for f in f_numbers:
            result = CliRunner().invoke(app, ["render", str(photo), "--f", f, "--depth", str(depth_png),
                                              "--out", str(tmp_path / "out")])
            assert result.exit_code == 0, result.output
            with Image.open(tmp_path / "out" / f"s{seed}_bokeh_f{f}.jpg") as im:
                ours = np.asarray(im)
            reference = to_uint8(accumulation_render(scene.planes, scene.lens(float(f)), width, height))
            m = MARGIN_PX
            scores.append(psnr(ours[m:-m, m:-m], reference[m:-m, m:-m]))
    return float(np.mean(scores)), scores


def test_matches_thin_lens_reference_small(tmp_path):
    mean, scores = mean_psnr(tmp_path, seeds=range(3), width=256, height=176)
    print(f"mean PSNR {mean:.2f} dB over {len(scores)} renders: {[round(s, 1) for s in scores]}")
    assert mean >= 33.0


@pytest.mark.slow
def test_matches_thin_lens_reference_768x512(tmp_path):
    mean, scores = mean_psnr(tmp_path, seeds=range(8), width=768, height=512)
    print(f"mean PSNR {mean:.2f} dB over {len(scores)} renders: {[round(s, 1) for s in scores]}")
    assert mean >= 33.0
