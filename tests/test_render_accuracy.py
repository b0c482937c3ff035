"""Renderer accuracy against the exact accumulation-buffer reference, end to end through the CLI.

Layered scenes of fronto-parallel textured planes are written as JPEG (EXIF focal length and
SubjectDistance) with a 16-bit PNG depth map, rendered with `bokeh render --depth`, and compared
on the image interior with the thin-lens reference (average of pinhole views over the aperture,
which models partial occlusion exactly). The slow variant is the issue's 768x512 acceptance set.
"""

import numpy as np
import pytest

from bokehcli.data.scenes import fronto_parallel_scene
from scene_files import SceneFiles, psnr


def mean_psnr(tmp_path, seeds, width, height, f_numbers=("1.8", "4")):
    scores = []
    for seed in seeds:
        files = SceneFiles(tmp_path, f"s{seed}", fronto_parallel_scene(seed, width, height))
        for f in f_numbers:
            ours = files.render(f, tmp_path / "out", "--depth", str(files.depth_png))
            scores.append(psnr(ours, files.reference(f)))
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
