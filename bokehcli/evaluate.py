"""Scoring on a RealBokeh-layout split (``bokeh eval``, and model selection in ``bokeh train``).

Protocols: ``all-pairs`` scores every (source, target) pair of the split; ``binary`` (the paper's
RealBokeh_bin) one pair per scene, the source and the first target its metadata lists (f/22 ->
f/2.0 on RealBokeh). Either way at full resolution, no crop. A method turns the f/22 source (sRGB,
upright) and the target's lens into an sRGB image; it is quantised to 8 bits (what a saved file
would hold; no JPEG encoding) and compared with the decoded 8-bit target:

    PSNR, SSIM   per image on RGB in [0, 1], data range 1, torchmetrics' definitions (bokehcli.losses)
    LPIPS        AlexNet, when the lpips package and its weights are available locally, else null
    report       means per target f-stop first, then the plain mean over pairs (which depends on
                 how many pairs of each f-stop the split happens to hold: near-sharp targets score
                 far higher than wide-open ones)

Methods: a BokehFlow weights file (tiled TSP inference at full resolution, ``models.inference``),
``identity`` (the source as the output: the floor) and, on sets with depth maps, ``physics-gt``
(the layered renderer with the true depth: the ceiling of a depth-based method). The source was
taken at f/22 and already carries that aperture's blur, so physics-gt adds only the blur it lacks
(:func:`bokehcli.optics.residual_f_number`). ``seconds_per_mp`` times the method alone (not
decoding or scoring), per megapixel of output.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from . import losses
from .data.realbokeh import Pair, format_fstop, list_pairs, load_set_depth
from .errors import BokehError, InputError, SettingError
from .files import atomic_path, atomic_write_bytes
from .imageio import load_photo
from .models.bokehflow import BokehFlow
from .models.factory import load_model, resolve_weights
from .models.inference import overlap_for, predict, validate_tiling
from .ops.color import linear_to_srgb
from .optics import residual_f_number
from .provenance import provenance
from .render.layered import DEFAULT_HIGHLIGHT_GAIN
from .render.with_depth import render_with_depth

GRID_PAIRS = 4
GRID_HEIGHT_PX = 192
DEFAULT_TILE_PX = 512  # network tile of `bokeh eval` and of validation in `bokeh train`
PROTOCOLS = {
    "all-pairs": "every (source, target) pair of the split",
    "binary": "one pair per scene: the source and the first target listed in its metadata "
              "(RealBokeh_bin: f/22 -> f/2.0)",
}
SCORING = ("full resolution, no crop; output quantised to 8 bits; PSNR and SSIM on RGB in [0, 1] with data "
           "range 1 (torchmetrics 1.9 definitions: SSIM gaussian sigma 1.5, 11x11, reflect-padded, k1 0.01, "
           "k2 0.03); means per target f-stop, then the plain mean over pairs")

# A method maps (pair, source sRGB (3, H, W)) to (output sRGB (3, H, W), inverse depth (H, W) in
# 1/m or None when it predicts none).
Method = Callable[[Pair, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class PairScore:
    """The scores of one pair (one row of per_image.csv)."""

    index: int
    id: str
    f_number: float
    source: str
    target: str
    width: int
    height: int
    psnr: float
    ssim: float
    lpips: float | None
    seconds: float
    inv_depth_absrel: float | None = None


def make_method(name: str, device: torch.device, tile_px: int | None = DEFAULT_TILE_PX) -> tuple[Method, dict]:
    """One of :data:`BASELINES`, or BokehFlow weights (a path or a name in ``models/``); returns
    the method and its description for the report."""
    if name in BASELINES:
        return BASELINES[name], BASELINE_CONFIGS[name]
    path = resolve_weights(name)
    model = load_model(path, device=device)
    return model_method(model, tile_px), {"weights": str(path.resolve()), "config": json.loads(model.config.to_json()),
                                          "tile_px": tile_px}


def model_method(model: BokehFlow, tile_px: int | None) -> Method:
    """BokehFlow as a method: tiled TSP inference at full resolution, then the renderer."""
    if tile_px is not None:
        try:
            validate_tiling(tile_px, overlap_for(tile_px))
        except ValueError as exc:
            raise SettingError("tile_px", f": {exc}") from None

    def bokehflow(pair: Pair, srgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lens = pair.lens
        cues = None
        if model.config.cue_channels:
            from .data.source_cues import source_cue_maps  # OpenCV only for models that take cues

            cues = torch.from_numpy(source_cue_maps(pair.source_path, tuple(srgb.shape[-2:]))).to(srgb.device)
        prediction = predict(model, srgb, lens, work_size_px=0, tile_px=tile_px, cue_maps=cues)
        rendered = render_with_depth(srgb[None], prediction.inv_depth, lens, refine_lin=prediction.refine_lin)
        return linear_to_srgb(rendered.linear)[0], prediction.inv_depth[0, 0]

    return bokehflow


def _physics_gt(pair: Pair, srgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The layered renderer with the set's true depth (full-frame pixel pitch), adding the blur
    the source lacks: the target's aperture less the source's own (``residual_f_number``)."""
    if pair.depth_path is None:
        raise InputError(f"{pair.source_path}: physics-gt needs the true depth <split>/depth/{pair.id}.npy")
    height, width = srgb.shape[-2:]
    depth = torch.from_numpy(load_set_depth(pair.depth_path, (height, width))).to(srgb.device)
    f_number = residual_f_number(pair.f_number, pair.source_f_number)
    if math.isinf(f_number):  # the source is already as blurred as the target
        return srgb, 1.0 / depth
    with torch.inference_mode():
        lens = replace(pair.lens, f_number=f_number)
        rendered = render_with_depth(srgb[None], (1.0 / depth)[None, None], lens)
        return linear_to_srgb(rendered.linear)[0], 1.0 / depth


def _identity(pair: Pair, srgb: torch.Tensor) -> tuple[torch.Tensor, None]:
    """The source as the output: the floor."""
    return srgb, None


BASELINES: dict[str, Method] = {"identity": _identity, "physics-gt": _physics_gt}
BASELINE_CONFIGS: dict[str, dict] = {
    "identity": {"baseline": "identity", "description": "the source as the output"},
    "physics-gt": {"baseline": "physics-gt", "description": "layered renderer with the true depth, adding the "
                   "blur the source (at its source_av) lacks", "highlight_boost": DEFAULT_HIGHLIGHT_GAIN},
}


def inverse_depth_absrel(inv_depth: torch.Tensor, depth_m: torch.Tensor) -> float:
    """Mean |1/D_pred - 1/D| / (1/D) over pixels with a known, finite true depth."""
    known = torch.isfinite(depth_m) & (depth_m > 0)
    truth = 1.0 / depth_m[known].double()
    return float(((inv_depth[known].double() - truth).abs() / truth).mean())


def check_method_inputs(name: str, pairs: list[Pair]) -> None:
    """Fail before any work when a baseline cannot run on this set."""
    if name == "physics-gt":
        missing = [p for p in pairs if p.depth_path is None]
        if missing:
            raise InputError(f"{missing[0].source_path.parent.parent}: physics-gt needs depth maps "
                             f"(depth/<id>.npy); {len(missing)} pair(s) have none")


def load_srgb(path: Path, device: torch.device) -> torch.Tensor:
    """Decoded, upright sRGB (3, H, W) float32 in [0, 1]."""
    return load_photo(path).srgb_chw().to(device)


def score_pair(index: int, pair: Pair, method: Method, device: torch.device,
               lpips_net: torch.nn.Module | None) -> tuple[PairScore, dict[str, np.ndarray]]:
    """Run ``method`` on one pair and score it; also returns the three images (8-bit H x W x 3)."""
    source = load_srgb(pair.source_path, device)
    target = load_srgb(pair.target_path, device)
    if source.shape != target.shape:
        raise InputError(f"{pair.target_path}: size {target.shape[2]}x{target.shape[1]} differs from the "
                         f"source's {source.shape[2]}x{source.shape[1]}")
    start = time.perf_counter()
    with torch.inference_mode():
        output, inv_depth = method(pair, source)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if output.shape != source.shape or not torch.isfinite(output).all():
        raise RuntimeError(f"{pair.source_path}: the method returned {tuple(output.shape)} or non-finite values")
    # Scored in float64 on exact k/255 levels (the decoded target is 8-bit already).
    output, target = losses.quantize_8bit(output.double()), losses.quantize_8bit(target.double())
    with torch.inference_mode():
        psnr = float(losses.psnr(output[None], target[None])[0])
        ssim = float(losses.ssim(output[None], target[None])[0])
        lpips = None
        if lpips_net is not None:
            lpips = float(lpips_net(output[None].float(), target[None].float()).flatten()[0])
    height, width = source.shape[-2:]
    absrel = None
    if inv_depth is not None and pair.depth_path is not None:
        truth = torch.from_numpy(load_set_depth(pair.depth_path, (height, width))).to(inv_depth.device)
        absrel = inverse_depth_absrel(inv_depth, truth)
    score = PairScore(index, pair.id, pair.f_number, str(pair.source_path), str(pair.target_path), width, height,
                      psnr, ssim, lpips, seconds, absrel)
    images = {k: (v.permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
              for k, v in (("input", source), ("output", output), ("target", target))}
    return score, images


def grid_indices(n_pairs: int, k: int = GRID_PAIRS) -> list[int]:
    """Up to ``k`` pair indices spread evenly over the split."""
    return sorted({round(i * (n_pairs - 1) / max(1, k - 1)) for i in range(min(k, n_pairs))})


def thumbnail(image: np.ndarray, height: int = GRID_HEIGHT_PX) -> np.ndarray:
    """8-bit (H, W, 3) scaled to ``height`` rows, aspect kept (area when shrinking, nearest
    when enlarging, so small test images stay pixel-exact)."""
    h, w = image.shape[:2]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    small = F.interpolate(x, size=(height, max(1, round(w * height / h))), mode="area" if h > height else "nearest")
    return small[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def make_grid(rows: list[tuple[PairScore, dict[str, np.ndarray]]]) -> Image.Image:
    """Rows of input | output | target thumbnails, each under its label."""
    label_px, gap = 16, 6
    font = ImageFont.load_default()
    cells = []
    for score, images in rows:
        f_stop = format_fstop(score.f_number)
        labels = (f"input f/22  #{score.id}", f"output f/{f_stop}  {score.psnr:.2f} dB", f"target f/{f_stop}")
        cells.append([(thumbnail(images[k]), label) for k, label in zip(("input", "output", "target"), labels)])
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widths = [max(max(c[i][0].shape[1], int(measure.textlength(c[i][1], font=font))) for c in cells)
              for i in range(3)]
    canvas = Image.new("RGB", (sum(widths) + gap * 4, (GRID_HEIGHT_PX + label_px + gap) * len(cells) + gap),
                       (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(cells):
        y, x = gap + r * (GRID_HEIGHT_PX + label_px + gap), gap
        for (image, label), width in zip(row, widths):
            draw.text((x, y), label, fill=(0, 0, 0), font=font)
            canvas.paste(Image.fromarray(image), (x, y + label_px))
            x += width + gap
    return canvas


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def summarize(scores: list[PairScore], lpips_note: str | None) -> dict:
    """Means per target f-stop (first: they compare like with like) and over all pairs."""
    def block(group: list[PairScore]) -> dict:
        lpips = [s.lpips for s in group if s.lpips is not None]
        absrel = [s.inv_depth_absrel for s in group if s.inv_depth_absrel is not None]
        return {"n_pairs": len(group), "psnr": _mean([s.psnr for s in group]),
                "ssim": _mean([s.ssim for s in group]), "lpips": _mean(lpips) if len(lpips) == len(group) else None,
                "inv_depth_absrel": _mean(absrel) if absrel and len(absrel) == len(group) else None}

    per_fstop = {}
    for f_number in sorted({s.f_number for s in scores}):
        per_fstop[format_fstop(f_number)] = block([s for s in scores if s.f_number == f_number])
    megapixels = math.fsum(s.width * s.height for s in scores) / 1e6
    return {"per_fstop": per_fstop, **block(scores), "lpips_note": lpips_note,
            "seconds_per_mp": math.fsum(s.seconds for s in scores) / megapixels if megapixels else None}


def report(summary: dict, model: str, model_config: dict, data: Path, split: str, protocol: str) -> dict:
    """metrics.json: what was scored and how, the scores, and what produced them."""
    return {"model": model, "data": str(Path(data).resolve()), "split": split,
            "protocol": {"name": protocol, "pairs": PROTOCOLS[protocol], "scoring": SCORING},
            **summary, "model_config": model_config, **provenance()}


def write_report(out_dir: Path, summary: dict, scores: list[PairScore],
                 grid_rows: list[tuple[PairScore, dict[str, np.ndarray]]]) -> None:
    """REP/metrics.json, REP/per_image.csv, REP/grid.png, each written atomically."""
    atomic_write_bytes(out_dir / "metrics.json", (json.dumps(summary, indent=2, allow_nan=False) + "\n").encode())
    text = io.StringIO()
    fields = [f for f in PairScore.__dataclass_fields__ if f != "index"]
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for score in scores:
        row = asdict(score)
        del row["index"]
        writer.writerow(row)
    atomic_write_bytes(out_dir / "per_image.csv", text.getvalue().encode())
    if grid_rows:
        with atomic_path(out_dir / "grid.png") as tmp:
            make_grid(grid_rows).save(tmp, format="PNG")


def select_pairs(pairs: list[Pair], protocol: str) -> list[Pair]:
    """The pairs a protocol scores (:data:`PROTOCOLS`); ``pairs`` in :func:`list_pairs` order."""
    if protocol == "all-pairs":
        return pairs
    if protocol == "binary":
        first: dict[str, Pair] = {}
        for pair in pairs:
            first.setdefault(pair.id, pair)
        return list(first.values())
    raise BokehError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def score_pairs(pairs: list[Pair], method: Method, device: torch.device, lpips_net: torch.nn.Module | None,
                rank: int = 0, world: int = 1, on_pair: Callable[[PairScore], None] | None = None
                ) -> tuple[list[PairScore], list[tuple[PairScore, dict[str, np.ndarray]]]] | None:
    """Score ``method`` on ``pairs``: (scores in pair order, the grid rows).

    With ``world > 1`` (torch.distributed initialised) rank ``r`` scores pairs ``r, r + world, ...``
    and rank 0 gathers everything; other ranks return None.
    """
    keep = set(grid_indices(len(pairs)))
    scores, rows = [], []
    for index in range(rank, len(pairs), world):
        score, images = score_pair(index, pairs[index], method, device, lpips_net)
        scores.append(score)
        if index in keep:
            rows.append((score, images))
        if on_pair is not None:
            on_pair(score)
    if world > 1:
        import torch.distributed as dist

        gathered: list = [None] * world
        dist.all_gather_object(gathered, (scores, rows))
        if rank != 0:
            return None
        scores = [s for part, _ in gathered for s in part]
        rows = [r for _, part in gathered for r in part]
    scores.sort(key=lambda s: s.index)
    rows.sort(key=lambda r: r[0].index)
    return scores, rows


def evaluate_split(data: Path, split: str, model: str, device: torch.device, limit: int | None = None,
                   tile_px: int | None = DEFAULT_TILE_PX, rank: int = 0, world: int = 1,
                   on_pair: Callable[[PairScore], None] | None = None, protocol: str = "all-pairs"
                   ) -> tuple[dict, list[PairScore], list[tuple[PairScore, dict[str, np.ndarray]]]] | None:
    """Score ``model`` on the first ``limit`` (default all) pairs that ``protocol`` selects from
    ``split``; under torchrun the pairs are sharded by rank (:func:`score_pairs`) and ranks other
    than 0 return None. Returns (metrics.json content, scores in pair order, the grid rows)."""
    pairs = select_pairs(list_pairs(data, split), protocol)
    if limit is not None:
        pairs = pairs[:limit]
    check_method_inputs(model, pairs)
    method, model_config = make_method(model, device, tile_px)
    lpips_net, lpips_note = losses.load_lpips(device)
    scored = score_pairs(pairs, method, device, lpips_net, rank, world, on_pair)
    if scored is None:
        return None
    scores, rows = scored
    return report(summarize(scores, lpips_note), model, model_config, data, split, protocol), scores, rows
