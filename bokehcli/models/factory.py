"""Create, save and load BokehFlow models. Weights are safetensors only (never a pickle).

File format: ``models/<name>.safetensors`` holding the ``state_dict`` tensors, with metadata
``{"format": "bokehflow", "config": <BokehFlowConfig JSON>, "operating_point": <OperatingPoint JSON>}``
(docs/formats.md#weights). Loading rebuilds the
network from the stored config and refuses, with a one-line :class:`InputError`, a file that is
not safetensors, has no, an unknown or an out-of-bounds config, whose tensor names/shapes do not
match it, or whose weights are not finite.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..errors import InputError
from ..files import atomic_write_bytes
from .bokehflow import BokehFlow
from .config import CUE_MAP_COUNT, VARIANTS, BokehFlowConfig
from .operating_point import CUE_CONVENTIONS, OperatingPoint, operating_point_of

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
WEIGHTS_SUFFIX = ".safetensors"
FORMAT = "bokehflow"


def create_model(variant: str = "nano", **overrides) -> BokehFlow:
    """A freshly initialised variant (``nano``, ``small``, ``base``); ``overrides`` replace config
    fields (e.g. ``name="mine"``, ``blocks=2``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return BokehFlow(dataclasses.replace(VARIANTS[variant], **overrides))


def list_models(models_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of the weights files shipped in ``models/`` (usable as ``--model NAME``)."""
    folder = Path(models_dir) if models_dir is not None else MODELS_DIR
    return sorted(p.stem for p in folder.glob(f"*{WEIGHTS_SUFFIX}")) if folder.is_dir() else []


def save_model(model: BokehFlow, path: str | os.PathLike, **metadata: str) -> None:
    """Write ``model`` to ``path`` atomically, with its config and operating point
    (:mod:`bokehcli.models.operating_point`); extra string ``metadata`` is stored alongside."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {**{k: str(v) for k, v in metadata.items()}, "format": FORMAT, "config": model.config.to_json(),
            "operating_point": operating_point_of(model).to_json()}
    # Serialized here and written by atomic_write_bytes rather than by safetensors' save_file: that
    # one writes through a temporary file of its own (".tmp" + 6 characters) beside the target, which
    # a kill -9 leaves behind and no sweep of ours recognizes.
    atomic_write_bytes(path, save(tensors, metadata=meta))


def resolve_weights(name_or_path: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Path:
    """A path as given if it exists, else ``models/<name>.safetensors``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    folder = Path(models_dir) if models_dir is not None else MODELS_DIR
    candidate = folder / f"{name_or_path}{WEIGHTS_SUFFIX}"
    if candidate.is_file():
        return candidate
    known = ", ".join(list_models(folder)) or "none"
    raise InputError(f"{name_or_path}: no such weights file or model name (shipped models: {known})")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable safetensors weights file ({exc})") from None


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu",
               models_dir: str | os.PathLike | None = None) -> BokehFlow:
    """Rebuild the model stored in a weights file (name in ``models/`` or a path), in eval mode."""
    path = resolve_weights(name_or_path, models_dir)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise InputError(f"{path}: not a BokehFlow weights file (no model config in its metadata)")
    try:
        config = BokehFlowConfig.from_json(meta["config"])
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise InputError(f"{path}: invalid model config in metadata: {exc}") from None
    try:  # weights saved before operating points existed ran with the defaults
        operating_point = (OperatingPoint.from_json(meta["operating_point"]) if "operating_point" in meta
                           else OperatingPoint())
    except (ValueError, TypeError, RecursionError) as exc:
        raise InputError(f"{path}: invalid operating point in metadata: {exc}") from None
    # Shapes first, on the meta device: an untrusted config must not allocate before it is checked.
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in BokehFlow(config).state_dict().items()}
    state = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            for key in fh.keys():
                state[key] = fh.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: corrupt weights file ({exc})") from None
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InputError(f"{path}: tensors do not match config {config.name!r} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise InputError(f"{path}: tensor {key} has shape {tuple(state[key].shape)}, "
                             f"config {config.name!r} needs {shape}")
        # NaN or inf weights would only show up as a NaN depth map deep inside a render.
        if not state[key].is_floating_point():
            raise InputError(f"{path}: tensor {key} holds {state[key].dtype} values, not floating-point weights")
        if not bool(torch.isfinite(state[key]).all()):
            raise InputError(f"{path}: tensor {key} holds NaN or infinite values")
    model = BokehFlow(config)
    model.load_state_dict(state)
    model.operating_point = operating_point
    return model.to(device).eval()


def with_cue_inputs(model: BokehFlow, name: str, cue_channels: int = CUE_MAP_COUNT) -> BokehFlow:
    """A model called ``name`` taking ``cue_channels`` cue maps, started from the photo-only ``model``
    (same shape otherwise): every weight is copied; the stem's first convolution gets zero weights for the cue
    channels, and the layers that emit depth (the depth head's and coarse heads' last layers)
    are zeroed, so the new model's depth starts as the cues' depth exactly (a correction of 0)
    while its features and refinement are those of ``model``."""
    if model.config.cue_channels or cue_channels < 1:
        raise ValueError(f"with_cue_inputs: {model.config.name!r} already takes cue maps")
    config = dataclasses.replace(model.config, name=name, cue_channels=cue_channels)
    new = BokehFlow(config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first_conv = "stem.to_skip.0.weight"
    old = state[first_conv]
    state[first_conv] = torch.cat([old, old.new_zeros(old.shape[0], config.cue_channels, *old.shape[2:])], dim=1)
    for key in ("depth_head.proj.weight", "depth_head.proj.bias",
                *[f"aux_depth.{i}.1.{part}" for i in range(config.stages) for part in ("weight", "bias")]):
        state[key] = torch.zeros_like(state[key])
    new.load_state_dict(state)
    # it runs as ``model`` does, but its inputs mean more: the saved weights say so
    new.operating_point = dataclasses.replace(operating_point_of(model), conventions=CUE_CONVENTIONS)
    return new.to(old.device)
