"""How a set of weights is meant to be run: its operating point, stored beside the architecture
config in the safetensors metadata (``"operating_point"``), the way a pretrained model's config
carries its input size and normalisation.

Inference (:func:`bokehcli.models.inference.predict`) takes every value it is not given from the
model's operating point; weights saved before operating points existed run with the defaults
below, which are what they were run with then.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..defaults import DEFAULT_WORK_SIZE_PX
from .config import CUE_MAP_COUNT
# The conventions the network's inputs and outputs follow (documentation for whoever loads the file).
CONVENTIONS = ("input: upright sRGB-encoded RGB in [0, 1], (B, 3, H, W), resized to the working size; "
               "lens: f-number, focal length (mm), focus distance (m), sensor diagonal (mm) of the whole "
               "frame, pixel pitch (mm) of the working size; output: inverse depth (1/m), refinement "
               "(linear RGB)")
# ... and what a model with cue channels (:mod:`bokehcli.cues.maps`) takes and returns besides.
CUE_CONVENTIONS = (CONVENTIONS + f"; cue maps (B, {CUE_MAP_COUNT}, H, W) in [0, 1] beside the photo, at the "
                   "working size: focus heat map, subject matte, defocus sigma / 8 px, defocus confidence, layout prior S1/D, "
                   "the cues' relative inverse depth S1/D (bokehcli.cues.maps); the depth head's logit is added "
                   "to that of the cues' inverse depth")
MAX_SIZE_PX = 1 << 16
MAX_TEXT_CHARS = 2000


@dataclass(frozen=True)
class OperatingPoint:
    """``work_size_px``: long side the network runs at (0 = full resolution); ``tile_px``: network
    tile (0 = whole image, None = chosen from the working size); ``overlap_px``: tile overlap (None
    = chosen from the tile); ``tsp``: carry the recurrent state from tile to tile (the weights were
    trained for it); ``conventions``, ``training_data``: what the inputs mean and what the weights
    were trained on, in words."""

    work_size_px: int = DEFAULT_WORK_SIZE_PX
    tile_px: int | None = None
    overlap_px: int | None = None
    tsp: bool = True
    conventions: str = CONVENTIONS
    training_data: str = ""

    def __post_init__(self) -> None:
        for name in ("work_size_px", "tile_px", "overlap_px"):
            value = getattr(self, name)
            if value is None and name != "work_size_px":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE_PX:
                raise ValueError(f"{name} must be an integer from 0 to {MAX_SIZE_PX}, got {value!r}")
        if not isinstance(self.tsp, bool):
            raise ValueError(f"tsp must be true or false, got {self.tsp!r}")
        for name in ("conventions", "training_data"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
                raise ValueError(f"{name} must be text of at most {MAX_TEXT_CHARS} characters")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "OperatingPoint":
        """Strict like the model config: unknown keys, wrong types or values raise ``ValueError``;
        missing keys take the defaults."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("operating point is not a JSON object")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"operating point has unknown keys {unknown}")
        return cls(**data)


def operating_point_of(model) -> OperatingPoint:
    """The operating point a model was loaded with (:func:`bokehcli.models.factory.load_model`), or
    the defaults for a network built in code."""
    return getattr(model, "operating_point", None) or OperatingPoint()
