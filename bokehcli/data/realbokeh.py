"""Reader of the RealBokeh layout (docs/formats.md#realbokeh-layout), real or synthetic (``bokeh synth``)::

    <root>/<split>/in/<id>_f22.JPG
    <root>/<split>/gt/<id>/<id>_f<N>.JPG        N: "2.0", "5.6" below 10, "10", "20" from 10
    <root>/<split>/metadata/<id>.json           {"id", "source_image", "source_av",
                                                 "target_images", "target_avs", "focal_length",
                                                 "ISO", "EV", "focus_plane_distance",
                                                 "focus_plane_uncertainty"}
    <root>/<split>/depth/<id>.npy               optional, float32 metres (synthetic sets)

Image paths in the metadata are relative to ``<root>/<split>``; ``.JPG`` and ``.jpg`` are both
accepted. Every problem is an :class:`InputError` naming the file. The sensor is full frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from ..imageio import load_photo
from ..optics import FULL_FRAME_DIAGONAL_MM, Lens

SPLITS = ("train", "validation", "test")
SOURCE_F_NUMBER = 22.0
METADATA_KEYS = ("id", "source_image", "source_av", "target_images", "target_avs", "focal_length",
                 "ISO", "EV", "focus_plane_distance", "focus_plane_uncertainty")


def format_fstop(f_number: float) -> str:
    """RealBokeh's spelling: one decimal below 10 (``2.0``, ``5.6``), none from 10 (``10``, ``20``)."""
    f_number = float(f_number)
    if not (f_number > 0 and math.isfinite(f_number)):
        raise ValueError(f"f-number must be positive, got {f_number}")
    return f"{f_number:.1f}" if f_number < 10 else f"{f_number:g}"


def parse_fstop(text: str) -> float:
    """``"f5.6"``, ``"F5.6"`` or ``"5.6"`` -> 5.6."""
    body = text[1:] if text[:1] in ("f", "F") else text
    try:
        value = float(body)
    except ValueError:
        raise ValueError(f"not an f-number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"not an f-number: {text!r}")
    return value


@dataclass(frozen=True)
class Pair:
    """One (source, target) pair, the lens of the target and the source's f-number."""

    id: str
    source_path: Path
    target_path: Path
    f_number: float
    focal_mm: float
    focus_m: float
    sensor_diag_mm: float = FULL_FRAME_DIAGONAL_MM
    depth_path: Path | None = None
    source_f_number: float = SOURCE_F_NUMBER

    @property
    def lens(self) -> Lens:
        """The target's lens (the same camera and focus as the source, the target's f-number)."""
        return Lens(focal_mm=self.focal_mm, f_number=self.f_number, focus_m=self.focus_m,
                    sensor_diag_mm=self.sensor_diag_mm)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_metadata(path: Path, meta: object) -> dict:
    """Keys and types of one metadata file; raises InputError naming it."""
    if not isinstance(meta, dict):
        raise InputError(f"{path}: metadata must be a JSON object")
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        raise InputError(f"{path}: metadata lacks {', '.join(missing)}")

    def bad(key: str, expected: str) -> InputError:
        return InputError(f"{path}: metadata {key!r} must be {expected}, got {meta[key]!r}")

    if not (isinstance(meta["id"], str) or (isinstance(meta["id"], int) and not isinstance(meta["id"], bool))):
        raise bad("id", "an integer or a string")
    if str(meta["id"]) != path.stem:
        raise InputError(f"{path}: metadata id {meta['id']!r} does not match the file name")
    if not isinstance(meta["source_image"], str):
        raise bad("source_image", "a path")
    for key in ("source_av", "focal_length", "focus_plane_distance"):
        if not (_is_number(meta[key]) and meta[key] > 0):
            raise bad(key, "a positive number")
    for key in ("ISO", "EV", "focus_plane_uncertainty"):
        if meta[key] is not None and not _is_number(meta[key]):
            raise bad(key, "a number or null")
    images, avs = meta["target_images"], meta["target_avs"]
    if not (isinstance(images, list) and all(isinstance(p, str) for p in images)):
        raise bad("target_images", "a list of paths")
    if not (isinstance(avs, list) and all(_is_number(a) and a > 0 for a in avs)):
        raise bad("target_avs", "a list of positive numbers")
    if len(images) != len(avs):
        raise InputError(f"{path}: metadata lists {len(images)} target images but {len(avs)} target_avs")
    return meta


def _resolve(root: Path, split_dir: Path, relative: str, meta_path: Path) -> Path:
    """A metadata path under ``split_dir``, refused if it escapes the dataset root or is missing;
    ``.JPG`` and ``.jpg`` are interchangeable."""
    candidate = (split_dir / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(root.resolve()):
        raise InputError(f"{meta_path}: path {relative!r} leaves the dataset root {root}")
    if candidate.is_file():
        return candidate
    for suffix in (".JPG", ".jpg"):
        other = candidate.with_suffix(suffix)
        if candidate.suffix.lower() == ".jpg" and other.is_file():
            return other
    raise InputError(f"{meta_path}: listed image {split_dir / relative} is missing")


def _id_order(path: Path) -> tuple:
    """Numeric ids in numeric order, then any others by name."""
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def list_pairs(root: str | Path, split: str) -> list[Pair]:
    """Every (source, target) pair of a split, in scene id order then target order."""
    root = Path(root)
    if split not in SPLITS:
        raise InputError(f"{root}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    split_dir = root / split
    meta_dir = split_dir / "metadata"
    if not meta_dir.is_dir():
        raise InputError(f"{meta_dir}: no metadata folder (not a RealBokeh layout)")
    meta_paths = sorted(meta_dir.glob("*.json"), key=_id_order)
    if not meta_paths:
        raise InputError(f"{meta_dir}: no metadata files")
    pairs = []
    for meta_path in meta_paths:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{meta_path}: cannot read: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{meta_path}: not valid JSON ({exc})") from None
        meta = _check_metadata(meta_path, meta)
        sid = str(meta["id"])
        source = _resolve(root, split_dir, meta["source_image"], meta_path)
        depth = split_dir / "depth" / f"{sid}.npy"
        for relative, f_number in zip(meta["target_images"], meta["target_avs"]):
            pairs.append(Pair(sid, source, _resolve(root, split_dir, relative, meta_path), float(f_number),
                              float(meta["focal_length"]), float(meta["focus_plane_distance"]),
                              depth_path=depth if depth.is_file() else None,
                              source_f_number=float(meta["source_av"])))
    return pairs


def load_set_depth(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """float32 (H, W) metres from a set's ``depth/<id>.npy``; its shape must be the photo's
    exactly (a set's own maps; user depth maps go through :func:`bokehcli.depthio.load_depth`)."""
    try:
        depth = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy depth map ({exc})") from None
    if depth.shape != tuple(size_hw):
        raise InputError(f"{path}: depth map is {depth.shape}, the photo is {tuple(size_hw)}")
    return depth.astype(np.float32)


class RealBokehTrain(Dataset):
    """Training samples: a scene, one of its targets at random, the same random crop of source,
    target (and depth, and with ``cues`` the source's cue maps) and a random horizontal flip.

    Item ``i`` of epoch ``e`` draws from ``numpy.random.default_rng((seed, e, i))``: reproducible
    and the same with any number of DataLoader workers; call :meth:`set_epoch` each epoch.
    ``crop=None`` returns whole frames. Returned tensors: ``source``, ``target`` (3, h, w) sRGB in
    [0, 1]; ``depth_m`` (1, h, w) when the set has depth; float scalars ``f_number``,
    ``focal_mm``, ``focus_m``, ``sensor_diag_mm``; int scalars ``width_px``, ``height_px`` of the
    full frame (the pixel pitch, hence CoC in px, refers to it, not to the crop); ``cues`` (K, h, w)
    when asked for (:mod:`bokehcli.data.source_cues`: computed on the whole source, then cropped).
    """

    def __init__(self, root: str | Path, split: str, crop: int | None = 256, seed: int = 0, cues: bool = False):
        self.scenes: dict[str, list[Pair]] = {}
        for pair in list_pairs(root, split):
            self.scenes.setdefault(pair.id, []).append(pair)
        self.ids = list(self.scenes)
        self.crop = crop
        self.seed = seed
        self.cues = cues
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        pairs = self.scenes[self.ids[index]]
        pair = pairs[int(rng.integers(len(pairs)))]
        source = load_photo(pair.source_path).srgb
        target = load_photo(pair.target_path).srgb
        if source.shape != target.shape:
            raise InputError(f"{pair.target_path}: size {target.shape[1]}x{target.shape[0]} differs from "
                             f"the source's {source.shape[1]}x{source.shape[0]}")
        height, width = source.shape[:2]
        planes = [source, target]
        if pair.depth_path is not None:
            planes.append(load_set_depth(pair.depth_path, (height, width))[:, :, None])
        if self.cues:
            from .source_cues import source_cue_maps  # OpenCV only for models that take cues

            planes.append(source_cue_maps(pair.source_path, (height, width)).transpose(1, 2, 0))
        if self.crop is not None:
            if self.crop > min(height, width):
                raise InputError(f"{pair.source_path}: {width}x{height} is smaller than the crop {self.crop}")
            top = int(rng.integers(height - self.crop + 1))
            left = int(rng.integers(width - self.crop + 1))
            planes = [p[top:top + self.crop, left:left + self.crop] for p in planes]
        flip = bool(rng.random() < 0.5)
        tensors = [torch.from_numpy(np.ascontiguousarray(p[:, ::-1] if flip else p)).permute(2, 0, 1)
                   for p in planes]
        item = {"source": tensors[0], "target": tensors[1]}
        if self.cues:
            item["cues"] = tensors.pop()
        if len(tensors) == 3:
            item["depth_m"] = tensors[2]
        scalar = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
        item.update(f_number=scalar(pair.f_number), focal_mm=scalar(pair.focal_mm),
                    focus_m=scalar(pair.focus_m), sensor_diag_mm=scalar(pair.sensor_diag_mm),
                    width_px=torch.tensor(width), height_px=torch.tensor(height))
        return item
