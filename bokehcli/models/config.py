"""One configuration dataclass for every BokehFlow variant, and the named variants.

Stored verbatim (JSON) in the safetensors metadata of saved weights, so a weights file always
rebuilds the exact network it was trained as.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


# Inclusive bounds of every numeric field: far beyond the shipped variants (base: dim 192, six
# blocks), yet small enough that the network a stranger's config describes is built (on the meta
# device, to check the file's tensors) in seconds, and its depth range is finite and positive.
LIMITS = {"dim": (1, 4096), "heads": (1, 64), "head_dim": (1, 1024), "blocks": (1, 64), "fusion_every": (1, 64),
          "ffn_ratio": (0.5, 16.0), "conv_kernel": (1, 31), "skip_dim": (1, 1024), "decoder_dim": (1, 1024),
          "lens_dim": (1, 1024), "min_depth_m": (1e-3, 1e5), "max_depth_m": (1e-3, 1e5), "chunk_size": (1, 1024),
          "cue_channels": (0, 16)}
FLOAT_FIELDS = ("ffn_ratio", "min_depth_m", "max_depth_m")
# Fields added after weights were first shipped: a stored config without them takes the default.
ADDED_FIELDS = frozenset({"cue_channels"})
MAX_NAME_CHARS = 64


@dataclass(frozen=True)
class BokehFlowConfig:
    """Shape of a BokehFlow network.

    dim, heads, head_dim: token channels and the gated-delta heads (q, k, v each heads*head_dim;
        base is 6 x 32 = 192 = dim, the q/k/v projection is 192 -> 3 x 192).
    blocks: BiGDR blocks per stream (depth and bokeh streams have the same count).
    fusion_every: cross-fusion of the two streams after every this many blocks (one stage).
    skip_dim: stem channels at stride 4 (decoder skip); decoder_dim: hidden width of the heads.
    lens_dim: ACFM lens-embedding width.
    min_depth_m, max_depth_m: bounds of the depth head (a bounded depth bounds the CoC).
    chunk_size: chunk length of the chunked gated delta rule (16-32 is fastest on CPU).
    cue_channels: 0 for a model that sees the photo alone; else the number of cue maps it takes
        beside it (:data:`bokehcli.cues.maps.CUE_CHANNELS`), its depth a learned correction of
        the cues' own depth.
    """

    name: str = "custom"
    dim: int = 64
    heads: int = 2
    head_dim: int = 32
    blocks: int = 4
    fusion_every: int = 2
    ffn_ratio: float = 2.0
    conv_kernel: int = 3
    skip_dim: int = 24
    decoder_dim: int = 32
    lens_dim: int = 32
    min_depth_m: float = 0.1
    max_depth_m: float = 100.0
    chunk_size: int = 32
    cue_channels: int = 0

    def __post_init__(self) -> None:
        """Every field within ``LIMITS``: a weights file is untrusted, and a field out of bounds
        (100,000 blocks, an infinite depth range, a width that overflows) must be refused here,
        before any network is built from it."""
        if not (isinstance(self.name, str) and 0 < len(self.name) <= MAX_NAME_CHARS and self.name.isprintable()):
            raise ValueError(f"model config: name must be 1 to {MAX_NAME_CHARS} printable characters, "
                             f"got {self.name!r:.80}")
        for key, (low, high) in LIMITS.items():
            value = getattr(self, key)
            integral = key not in FLOAT_FIELDS
            kinds = (int,) if integral else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
                what = "an integer" if integral else "a number"
                raise ValueError(f"model config: {key} must be {what} from {low:g} to {high:g}, got {value!r:.40}")
        if self.blocks % self.fusion_every:
            raise ValueError(f"model config: blocks ({self.blocks}) must be a multiple of fusion_every "
                             f"({self.fusion_every})")
        if self.conv_kernel % 2 == 0:
            raise ValueError(f"model config: conv_kernel must be odd, got {self.conv_kernel}")
        if not self.min_depth_m < self.max_depth_m:
            raise ValueError("model config: need min_depth_m < max_depth_m")

    @property
    def stages(self) -> int:
        return self.blocks // self.fusion_every

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "BokehFlowConfig":
        """Strict: unknown or missing keys raise ``ValueError`` (a file from another version);
        only a field of ``ADDED_FIELDS`` may be missing (older weights), taking its default."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("model config is not a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        extra, missing = sorted(set(data) - names), sorted(names - set(data) - ADDED_FIELDS)
        if extra or missing:
            raise ValueError(f"model config keys differ (unknown {extra}, missing {missing})")
        return cls(**data)


# Fast default: trains on a 2-core CPU in tens of minutes.
_NANO = BokehFlowConfig(name="nano", dim=64, heads=2, head_dim=32, blocks=4, skip_dim=24, decoder_dim=32, lens_dim=32)
# The cue maps of bokehcli.cues.maps.CUE_CHANNELS (not imported here: it needs OpenCV).
CUE_MAP_COUNT = 6

VARIANTS: dict[str, BokehFlowConfig] = {
    "nano": _NANO,
    # nano refining the depth of the photo's own cues, which it takes as extra input channels
    "nano-cues": dataclasses.replace(_NANO, name="nano-cues", cue_channels=CUE_MAP_COUNT),
    "small": BokehFlowConfig(name="small", dim=96, heads=4, head_dim=24, blocks=6, skip_dim=32,
                             decoder_dim=48, lens_dim=64),
    "base": BokehFlowConfig(name="base", dim=192, heads=6, head_dim=32, blocks=6, skip_dim=48,
                            decoder_dim=64, lens_dim=64),
}
