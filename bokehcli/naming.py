"""The names of the files bokeh writes beside a photo, in one place (docs/formats.md#render-outputs).

    <out>/<stem>_bokeh_f<N><suffix>      the render; N exactly as typed (``--f 1.8`` -> ``_bokeh_f1.8``)
    <out>/<stem>_depth.npy, .png         the depth the render used (``--save-depth``)
    <out>/<stem>_depth_preview.jpg       that depth for the eye

A folder given to ``bokeh render`` is searched with the same marks, so our own outputs are never
taken for photos, and a ``--depth`` folder may hold ``<stem>.png`` or ``<stem>_depth.png``.
"""

from __future__ import annotations

from pathlib import Path

RENDER_MARK = "_bokeh_f"
DEPTH_MARK = "_depth"
PREVIEW_SUFFIX = "_preview.jpg"


def render_path(photo: Path, out_dir: Path | None, f_number_text: str, suffix: str) -> Path:
    """``<out_dir>/<stem>_bokeh_f<N><suffix>``; ``out_dir`` None is the photo's own folder."""
    folder = out_dir if out_dir is not None else photo.parent
    return folder / f"{photo.stem}{RENDER_MARK}{f_number_text}{suffix}"


def depth_output_paths(out_dir: str | Path, stem: str) -> tuple[Path, Path]:
    """Where the depth a render used is saved: ``<out_dir>/<stem>_depth.npy`` and ``.png``."""
    return Path(out_dir) / f"{stem}{DEPTH_MARK}.npy", Path(out_dir) / f"{stem}{DEPTH_MARK}.png"


def depth_preview_path(out_dir: str | Path, stem: str) -> Path:
    return Path(out_dir) / f"{stem}{DEPTH_MARK}{PREVIEW_SUFFIX}"


def depth_map_stems(photo: Path) -> tuple[str, str]:
    """The stems a depth map of ``photo`` may have in a ``--depth`` folder, in order of preference."""
    return photo.stem, f"{photo.stem}{DEPTH_MARK}"


def is_our_output(path: Path) -> bool:
    """Whether ``path`` is named like a render or a depth map of ours (left out of folder inputs)."""
    return RENDER_MARK in path.stem or path.stem.endswith(DEPTH_MARK) or path.name.endswith(DEPTH_MARK + PREVIEW_SUFFIX)
