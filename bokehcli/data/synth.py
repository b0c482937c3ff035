"""Synthetic RealBokeh-style data set rendered by the accumulation reference
(docs/formats.md#realbokeh-layout).

Per scene ``<id>`` of a split (ids restart at 0 per split)::

    <split>/in/<id>_f<S>.JPG         source at the capture f-number S (f/22 as RealBokeh; a
                                     wider one, e.g. f/4, leaves defocus in the input as real
                                     photos have it), with the simulated AF point (below)
    <split>/gt/<id>/<id>_f<N>.JPG    targets, a few f-stops between f/2.0 and f/20
    <split>/metadata/<id>.json       RealBokeh's keys; paths relative to <split>/
    <split>/depth/<id>.npy           float32 metres of the pinhole view

Every image is rendered in linear light by :func:`accumulation_render`, clipped, sRGB-encoded and
saved as JPEG quality 95 with EXIF (Make, FocalLength, FNumber, FocalLengthIn35mmFilm,
SubjectDistance); the source also carries SubjectArea, where a camera would have focused: the
largest in-focus region of the scene (:func:`simulated_af_area`), so cue code reads synthetic
inputs exactly as it reads real photos. Scene ``(split, id)`` depends only on ``(seed, split, id)``, so a set is the
same whatever the number of workers. The metadata file is written last: a scene whose metadata
exists is complete, and a rerun skips it unless ``overwrite``. ``<root>/synth.json`` records the
size, seed and layered fraction, and a run with other settings is refused rather than mixed in.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import BokehError, InputError
from ..defaults import SOURCE_F_NUMBER_RANGE
from ..files import atomic_path, atomic_write_bytes, remove_stale_temp_files
from ..imageio.lens_jpeg import lens_exif, write_lens_jpeg
from ..ops.color import linear_to_srgb
from ..render.accumulation import accumulation_render, pinhole_view
from ..stop import pool_worker_signals, signals_deferred, spawning_workers
from .realbokeh import SOURCE_F_NUMBER, SPLITS, format_fstop
from .scenes import fronto_parallel_scene, random_scene

TARGET_F_NUMBERS = (2.0, 2.8, 4.0, 5.6, 8.0, 10.0, 13.0, 16.0, 20.0)
WIDE_F_NUMBERS = (2.0, 2.8)
MAKE = "bokeh-synth"


@dataclass(frozen=True)
class Job:
    """One scene to write."""

    root: Path
    split: str
    scene_id: int
    seed: int
    width_px: int
    height_px: int
    overwrite: bool
    layered_fraction: float = 0.0
    source_f_number: float = SOURCE_F_NUMBER


# The simulated AF point: pixels within this relative distance of the focus plane are "in
# focus" (|S1 / D - 1|); the point is the middle of their largest connected patch, its area a
# box of AF_BOX_FRACTION of the long side, like one AF point of a camera.
AF_IN_FOCUS_TOLERANCE = 0.03
AF_BOX_FRACTION = 0.03


def simulated_af_area(depth_m: np.ndarray, focus_m: float) -> tuple[int, int, int, int] | None:
    """EXIF SubjectArea ``(cx, cy, w, h)`` px of the object the synthetic lens focused on, or None
    when nothing lies on the focus plane. ``depth_m`` (H, W) metres of the pinhole view."""
    import cv2  # the data generator's only use of it

    in_focus = (np.abs(focus_m / np.maximum(depth_m, 1e-6) - 1.0) < AF_IN_FOCUS_TOLERANCE).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(in_focus, connectivity=4)
    if count <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    # the patch's innermost pixel (farthest from its outline), not its centroid, which a
    # ring-shaped patch does not contain; the frame's edge is outline too (padding of zeros): a
    # camera's AF points do not reach the frame's corners, where a backdrop's innermost pixel
    # would otherwise lie, farthest from everything in front of it
    patch = np.pad((labels == largest).astype(np.uint8), 1)
    inside = cv2.distanceTransform(patch, cv2.DIST_L2, 3)[1:-1, 1:-1]
    cy, cx = np.unravel_index(int(np.argmax(inside)), inside.shape)
    side = max(2, round(AF_BOX_FRACTION * max(depth_m.shape)))
    return int(cx), int(cy), side, side


def choose_targets(rng: np.random.Generator) -> list[float]:
    """2-4 distinct target f-numbers, ascending, always one of f/2.0 or f/2.8."""
    wide = float(rng.choice(WIDE_F_NUMBERS))
    others = [f for f in TARGET_F_NUMBERS if f != wide]
    extra = rng.choice(others, size=int(rng.integers(1, 4)), replace=False)
    return sorted([wide, *map(float, extra)])


def write_jpeg(path: Path, rgb_lin: torch.Tensor, focal_mm: float, f_number: float | None, focus_m: float,
               subject_area_px: tuple[int, int, int, int] | None = None) -> None:
    """Clip linear RGB (3, H, W), encode sRGB, save it as a JPEG with the lens in EXIF, atomically.

    ``f_number`` None leaves FNumber out (a capture aperture nobody recorded);
    ``subject_area_px`` is EXIF SubjectArea as a rectangle: centre x, centre y, width, height
    in pixels (where the camera focused). The camera is full frame, so the 35 mm focal length is
    the focal length."""
    srgb = linear_to_srgb(rgb_lin.clamp(0.0, 1.0)).permute(1, 2, 0).cpu().numpy()
    pixels = np.rint(srgb * 255.0).astype(np.uint8)
    write_lens_jpeg(path, pixels, lens_exif(focal_mm=focal_mm, f_number=f_number, focus_m=focus_m,
                                            focal_35mm=focal_mm, make=MAKE, subject_area_px=subject_area_px))


def scene_seed(seed: int, split: str, scene_id: int) -> tuple[int, int, int]:
    return seed, SPLITS.index(split), scene_id


def write_scene(job: Job) -> dict:
    """Render and write one scene; returns ``{"split", "id", "pairs", "skipped", "seconds"}``."""
    start = time.perf_counter()
    split_dir = job.root / job.split
    sid = str(job.scene_id)
    meta_path = split_dir / "metadata" / f"{sid}.json"
    seed = scene_seed(job.seed, job.split, job.scene_id)
    targets = choose_targets(np.random.default_rng((*seed, 1)))
    if meta_path.exists() and not job.overwrite:
        return {"split": job.split, "id": job.scene_id, "pairs": len(targets), "skipped": True, "seconds": 0.0}
    # The scene's margin covers the widest aperture rendered. Some scenes are plain stacks of
    # fronto-parallel textured cards (the layered-scene family), the rest the varied generator.
    layered = np.random.default_rng((*seed, 2)).random() < job.layered_fraction
    generator = fronto_parallel_scene if layered else random_scene
    scene = generator(seed, job.width_px, job.height_px, widest_f_number=min(targets))
    w, h = job.width_px, job.height_px
    for folder in ("in", "metadata", "depth", f"gt/{sid}"):
        (split_dir / folder).mkdir(parents=True, exist_ok=True)

    _, depth = pinhole_view(scene.planes, w, h)
    with atomic_path(split_dir / "depth" / f"{sid}.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, depth.cpu().numpy().astype(np.float32))
    source = f"in/{sid}_f{format_fstop(job.source_f_number)}.JPG"
    render = accumulation_render(scene.planes, scene.lens(job.source_f_number), w, h)
    write_jpeg(split_dir / source, render, scene.focal_mm, job.source_f_number, scene.focus_m,
               subject_area_px=simulated_af_area(depth.cpu().numpy(), scene.focus_m))
    target_images = []
    for f_number in targets:
        name = f"gt/{sid}/{sid}_f{format_fstop(f_number)}.JPG"
        render = accumulation_render(scene.planes, scene.lens(f_number), w, h)
        write_jpeg(split_dir / name, render, scene.focal_mm, f_number, scene.focus_m)
        target_images.append(name)
    metadata = {
        "id": job.scene_id,
        "source_image": source,
        "source_av": job.source_f_number,
        "target_images": target_images,
        "target_avs": targets,
        "focal_length": scene.focal_mm,
        "ISO": 100,  # a noise-free synthetic sensor at base sensitivity
        "EV": None,  # no physical exposure behind a synthetic render
        "focus_plane_distance": scene.focus_m,
        "focus_plane_uncertainty": 0.0,  # exact by construction
    }
    atomic_write_bytes(meta_path, (json.dumps(metadata, indent=2) + "\n").encode())
    return {"split": job.split, "id": job.scene_id, "pairs": len(targets), "skipped": False,
            "seconds": time.perf_counter() - start}


def _init_worker(threads: int) -> None:
    pool_worker_signals()
    torch.set_num_threads(threads)


RECIPE_FILE = "synth.json"


def claim_recipe(root: Path, width_px: int, height_px: int, seed: int, layered_fraction: float,
                 source_f_number: float = SOURCE_F_NUMBER) -> None:
    """Record in ``<root>/synth.json`` what the set is made with; refuse (BokehError) to add scenes
    made otherwise, since a rerun skips complete scenes and would silently mix two sets."""
    recipe = {"size": [width_px, height_px], "seed": seed, "layered": layered_fraction}
    if source_f_number != SOURCE_F_NUMBER:  # (sets made before the option stay valid)
        recipe["source_f"] = source_f_number
    path = Path(root) / RECIPE_FILE
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable data set recipe ({exc})") from None
        if existing != recipe:
            def describe(r: dict) -> str:
                return (f"--size {r['size'][0]}x{r['size'][1]} --seed {r['seed']} --layered {r['layered']:g} "
                        f"--source-f {r.get('source_f', SOURCE_F_NUMBER):g}")
            raise BokehError(f"{root}: holds a set made with {describe(existing)}; this run asks for "
                             f"{describe(recipe)}: use those settings or another --out")
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(recipe) + "\n").encode())


def synthesize(root: Path, counts: dict[str, int], width_px: int, height_px: int, seed: int,
               workers: int = 1, overwrite: bool = False, layered_fraction: float = 0.0,
               on_done: Callable[[dict], None] | None = None,
               source_f_number: float = SOURCE_F_NUMBER) -> list[dict]:
    """Write ``counts[split]`` scenes per split under ``root``; returns the per-scene records
    (see :func:`write_scene`) in split and id order. ``on_done`` is called as each finishes."""
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; expected {SPLITS}")
    if not 0.0 <= layered_fraction <= 1.0:
        raise ValueError(f"layered fraction must be in [0, 1], got {layered_fraction}")
    low, high = SOURCE_F_NUMBER_RANGE
    if not low <= source_f_number <= high:
        raise ValueError(f"source f-number must be from {low:g} to {high:g}, got {source_f_number:g}")
    claim_recipe(root, width_px, height_px, seed, layered_fraction, source_f_number)
    remove_stale_temp_files(root, recursive=True)  # left by a run killed mid-write
    jobs = [Job(Path(root), split, i, seed, width_px, height_px, overwrite, layered_fraction, source_f_number)
            for split in SPLITS for i in range(counts.get(split, 0))]
    # One thread per worker: with more threads than cores torch's thread pool spins and runs
    # many times slower.
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    records = []
    if workers <= 1 or len(jobs) <= 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(min(previous, threads))
        try:
            for job in jobs:
                records.append(write_scene(job))
                if on_done:
                    on_done(records[-1])
        finally:
            torch.set_num_threads(previous)
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
        pool = None
        try:
            with spawning_workers():  # the workers start ignoring SIGINT, until _init_worker
                pool = ctx.Pool(workers, initializer=_init_worker, initargs=(threads,))
            for record in pool.imap_unordered(write_scene, jobs):
                records.append(record)
                if on_done:
                    on_done(record)
        finally:
            if pool is not None:
                with signals_deferred():  # a second Ctrl-C must not leave them running
                    pool.terminate()  # SIGTERM: its workers end, mid-scene after an interrupt
            remove_stale_temp_files(root, recursive=True)
    order = {(j.split, j.scene_id): k for k, j in enumerate(jobs)}
    return sorted(records, key=lambda r: order[(r["split"], r["id"])])


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def parse_size(text: str) -> tuple[int, int]:
    """``"768x512"`` -> (768, 512)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"size must look like 768x512, got {text!r}")
    w, h = (int(p) for p in parts)
    if not (8 <= w <= 16384 and 8 <= h <= 16384):
        raise ValueError(f"size {w}x{h} is out of range (8..16384 px per side)")
    return w, h


def seconds_per_scene(records: list[dict]) -> float:
    done = [r["seconds"] for r in records if not r["skipped"]]
    return sum(done) / len(done) if done else math.nan
