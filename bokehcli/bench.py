"""`bokeh bench`: end-to-end and per-stage timings of `bokeh render`, in this process.

The photo is a given file or a generated one (textured, EXIF focal length and focus distance, a
depth map with a far background, a ground plane and an in-focus subject, largest CoC about 80 px
at f/1.8 on a 24 MP frame, proportionally at other sizes). Each repeat runs the same
:func:`bokehcli.pipeline.render_file` that `bokeh render` runs, with stage timers; peak memory is
the process's peak RSS during the repeat (the kernel counter is reset before each), or the peak
CUDA allocation on a GPU.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .device import resolve_device
from .files import atomic_path
from .imageio import read_size
from .imageio.lens_jpeg import lens_exif, write_lens_jpeg
from .pipeline import RenderSettings, render_file
from .threads import thread_settings
from .timing import Stages, peak_rss_bytes, reset_peak_rss

STAGES = ("decode", "cue: faces", "cue: saliency", "cue: defocus", "cue: subject", "cue: layout", "network",
          "depth upsampling", "coc", "render", "encode")
BENCH_FOCAL_MM = 50.0
BENCH_FOCUS_M = 3.0
COMPARE_TILE_PX = 512


def make_bench_photo(folder: Path, width: int, height: int, seed: int = 0) -> tuple[Path, Path]:
    """A textured JPEG with EXIF lens data and its 16-bit PNG depth map (mm)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((max(height // 16, 2), max(width // 16, 2), 3)) * 255).astype(np.uint8))
    pixels = np.asarray(coarse.resize((width, height), Image.BILINEAR), dtype=np.int16)
    pixels = np.clip(pixels + rng.integers(-30, 30, (height, width, 1), dtype=np.int16), 0, 255).astype(np.uint8)
    # Inverse depth falls linearly from 1/60 m (top) to 1/1.5 m (bottom): sky to near ground.
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    depth = np.broadcast_to(1.0 / (rows / 1.5 + (1 - rows) / 60.0), (height, width)).copy()
    depth[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = BENCH_FOCUS_M
    photo, depth_png = folder / f"bench_{width}x{height}.jpg", folder / f"bench_{width}x{height}_depth.png"
    write_lens_jpeg(photo, pixels, lens_exif(focal_mm=BENCH_FOCAL_MM, focus_m=BENCH_FOCUS_M,
                                             focal_35mm=BENCH_FOCAL_MM, make="bokeh-bench"))
    with atomic_path(depth_png) as tmp:
        Image.fromarray(np.rint(depth * 1000).astype(np.uint16)).save(tmp, format="PNG")
    return photo, depth_png


def bench_render(photo: Path, settings: RenderSettings, repeat: int) -> dict:
    """Median seconds per stage and end to end over ``repeat`` runs, megapixels/s, peak memory."""
    device = resolve_device(settings.device)
    settings = replace(settings, overwrite=True)
    runs, peaks = [], []
    for _ in range(repeat):
        stages = Stages(device)
        reset_peak_rss()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = render_file(photo, settings, stages=stages)
        total = time.perf_counter() - start
        runs.append({**stages.seconds, "total": total})
        peaks.append(torch.cuda.max_memory_allocated() if device.type == "cuda" else peak_rss_bytes())
    width, height = read_size(photo)
    megapixels = width * height / 1e6
    names = [s for s in STAGES if any(s in r for r in runs)] + ["total"]
    medians = {name: statistics.median(r.get(name, 0.0) for r in runs) for name in names}
    return {
        "photo": str(photo), "megapixels": round(megapixels, 2), "repeat": repeat, "device": str(device),
        "depth": result.depth_source if not settings.depth else "given",
        "settings": {"f_number": settings.f_number, "work_size_px": settings.work_size_px, "tile_px": settings.tile_px,
                     "tsp": settings.tsp, **thread_settings()},
        "median_seconds": {k: round(v, 3) for k, v in medians.items()},
        "megapixels_per_second": round(megapixels / medians["total"], 3),
        "peak_memory_bytes": max(peaks),
        "peak_memory_kind": "cuda max allocated" if device.type == "cuda" else "RSS",
        "max_blur_px": result.max_blur_px,
    }


def compare_op(tokens: int = 4096, heads: int = 4, dim: int = 32, repeat: int = 3) -> dict:
    """Chunked gated delta rule against the per-token reference, same inputs, same process."""
    from .ops.gated_delta import chunk_gated_delta_rule, recurrent_gated_delta_rule

    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, heads, tokens, dim, generator=g)
    k = torch.nn.functional.normalize(torch.randn(1, heads, tokens, dim, generator=g), dim=-1)
    v = torch.randn(1, heads, tokens, dim, generator=g)
    gate = -torch.rand(1, heads, tokens, generator=g) * 0.1
    beta = torch.rand(1, heads, tokens, generator=g)
    timings = {}
    for name, fn in (("chunk", chunk_gated_delta_rule), ("recurrent", recurrent_gated_delta_rule)):
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            out, _ = fn(q, k, v, gate, beta)
            seconds.append(time.perf_counter() - start)
        timings[name] = (statistics.median(seconds), out)
    error = (timings["chunk"][1] - timings["recurrent"][1]).abs().max().item()
    return {"shape": [1, heads, tokens, dim], "chunk_s": round(timings["chunk"][0], 4),
            "recurrent_s": round(timings["recurrent"][0], 4),
            "speedup": round(timings["recurrent"][0] / timings["chunk"][0], 2), "max_abs_diff": error}


def compare_tiling(photo: Path, settings: RenderSettings) -> dict:
    """Network at the working size as one tile against tiles with and without TSP."""
    from .imageio import load_photo
    from .models.inference import predict
    from .optics import Lens
    from .pipeline import load_network

    model, device = load_network(settings.network_name, settings.device)
    srgb = load_photo(photo).srgb_chw().to(device)
    lens = Lens(BENCH_FOCAL_MM, settings.f_number, BENCH_FOCUS_M)
    report = {}
    results = {}
    compare_tile_px = settings.tile_px or COMPARE_TILE_PX
    for name, tile_px, tsp in (("whole", 0, True), ("tiled_tsp", compare_tile_px, True),
                               ("tiled_no_tsp", compare_tile_px, False)):
        start = time.perf_counter()
        results[name] = predict(model, srgb, lens, settings.work_size_px, tile_px, tsp=tsp).inv_depth
        report[f"{name}_s"] = round(time.perf_counter() - start, 3)
    for name in ("tiled_tsp", "tiled_no_tsp"):
        report[f"{name}_inv_depth_psnr_db"] = round(inverse_depth_psnr(results[name], results["whole"]), 2)
    report["tiled_over_whole_time"] = round(report["tiled_tsp_s"] / report["whole_s"], 2)
    return report


def inverse_depth_psnr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR of inverse depth with the reference's range as the peak."""
    peak = float(reference.max() - reference.min()) or 1.0
    mse = float(((estimate - reference) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)
