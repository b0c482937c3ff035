"""One configuration dataclass for every BokehFlow variant, and the named variants.

Stored verbatim (JSON) in the safetensors metadata of saved weights, so a weights file always
rebuilds the exact network it was trained as.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class BokehFlowConfig:
    """Shape of a BokehFlow network.

    dim, heads, head_dim: token channels and the gated-delta heads (q, k, v each heads*head_dim;
        seed audit #8: base is 6 x 32 = 192 = dim, the q/k/v projection is 192 -> 3 x 192).
    blocks: BiGDR blocks per stream (depth and bokeh streams have the same count).
    fusion_every: cross-fusion of the two streams after every this many blocks (one stage).
    skip_dim: stem channels at stride 4 (decoder skip); decoder_dim: hidden width of the heads.
    lens_dim: ACFM lens-embedding width.
    min_depth_m, max_depth_m: bounds of the depth head (seed audit #7).
    chunk_size: chunk length of the chunked gated delta rule (16-32 is fastest on CPU).
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

    def __post_init__(self) -> None:
        positive = ("dim", "heads", "head_dim", "blocks", "fusion_every", "skip_dim", "decoder_dim",
                    "lens_dim", "chunk_size")
        for key in positive:
            value = getattr(self, key)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"model config: {key} must be a positive integer, got {value!r}")
        if self.blocks % self.fusion_every:
            raise ValueError(f"model config: blocks ({self.blocks}) must be a multiple of fusion_every "
                             f"({self.fusion_every})")
        if self.conv_kernel % 2 == 0 or self.conv_kernel < 1:
            raise ValueError(f"model config: conv_kernel must be odd, got {self.conv_kernel}")
        if not self.ffn_ratio > 0:
            raise ValueError(f"model config: ffn_ratio must be positive, got {self.ffn_ratio}")
        if not 0 < self.min_depth_m < self.max_depth_m:
            raise ValueError("model config: need 0 < min_depth_m < max_depth_m")

    @property
    def stages(self) -> int:
        return self.blocks // self.fusion_every

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "BokehFlowConfig":
        """Strict: unknown or missing keys raise ``ValueError`` (a file from another version)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("model config is not a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data) != names:
            extra, missing = sorted(set(data) - names), sorted(names - set(data))
            raise ValueError(f"model config keys differ (unknown {extra}, missing {missing})")
        return cls(**data)


VARIANTS: dict[str, BokehFlowConfig] = {
    # Fast default: trains on a 2-core CPU in tens of minutes.
    "nano": BokehFlowConfig(name="nano", dim=64, heads=2, head_dim=32, blocks=4, skip_dim=24,
                            decoder_dim=32, lens_dim=32),
    "small": BokehFlowConfig(name="small", dim=96, heads=4, head_dim=24, blocks=6, skip_dim=32,
                             decoder_dim=48, lens_dim=64),
    "base": BokehFlowConfig(name="base", dim=192, heads=6, head_dim=32, blocks=6, skip_dim=48,
                            decoder_dim=64, lens_dim=64),
}
