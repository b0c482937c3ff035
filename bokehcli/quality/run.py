"""Render every labelled real photo in each variant and score it (see ``real_photo`` and ``protocol``)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from ..imageio import load_photo
from ..lens import read_lens
from ..lens.policy import focal_35mm
from .protocol import render_variant, trivial_focus_m
from .real_photo import Label, PhotoScore, materialise, polygon_centroid, polygon_point_px, score_photo


def run_real_photos(labels: list[Label], variants: list[str], corpus: Path, work_dir: Path,
                    progress: Callable[[str], None] = lambda line: None,
                    model: str | None = None) -> dict[str, list[PhotoScore]]:
    """Scores per variant, in label order. Renders go to ``work_dir/<variant>/<index>/``; ``model``
    names the weights of the ``model`` variant."""
    scores: dict[str, list[PhotoScore]] = {variant: [] for variant in variants}
    for index, label in enumerate(labels):
        path = materialise(label, corpus, work_dir / "inputs")
        info = read_lens(path)
        srgb_in = load_photo(path).srgb
        height, width = srgb_in.shape[:2]
        subject_xy = polygon_point_px(polygon_centroid(label.subject), height, width)
        focal = focal_35mm(info)
        for variant in variants:
            start = time.perf_counter()
            result = render_variant(variant, path, work_dir / variant / str(index), info, (width, height),
                                    subject_xy=subject_xy, model=model)
            score = score_photo(label, srgb_in, load_photo(result.output).srgb)
            score.info = {"focal_35mm": round(focal.value, 1), "focal_source": focal.source,
                          "focus_m": None if result.focus_m is None or math.isinf(result.focus_m)
                          else round(result.focus_m, 3),
                          "focus_source": result.focus_source, "seconds": round(time.perf_counter() - start, 2)}
            if variant == "focus-at":
                score.info["focus_at_px"] = list(subject_xy)
            if variant == "trivial":
                score.info["trivial_focus_m"] = round(trivial_focus_m(info), 3)
            scores[variant].append(score)
            progress(f"{variant:8s} {label.file}: subject {score.subject_ratio:.2f}, backgrounds "
                     f"{' '.join(f'{r:.2f}' for r in score.background_ratios) or '-'}"
                     f"{''.join(f', foreground {r:.2f}' for r in score.foreground_ratios)} "
                     f"({score.info['seconds']:.1f} s)")
    return scores
