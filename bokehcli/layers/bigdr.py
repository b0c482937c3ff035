"""BiGDR: a bidirectional 2-D gated-delta-rule block over a token grid.

One block, tokens ``x`` (B, L, C) on an ``h x w`` grid (row-major, ``L = h w``)::

    u = LN(x)  [-> FiLM(lens) in the bokeh stream, ACFM]
    q, k, v = SiLU(dwconv(W_qkv u))          per head, Dk = Dv = head_dim; short depthwise conv (conv_kernel)
    q, k <- q / max(|q|, eps), k / max(|k|, eps)      L2 with eps: zero keys give no NaN
    g, beta = gates(u [, log1p|coc|])                 (B, L, H), see layers.gates (DAHG)
    four scans of the same tokens, batched as 4B in ONE chunk_gated_delta_rule call:
        row-major forward, row-major backward, column-major forward, column-major backward
    o_d = RMSNorm_d(scan_d)                 per-direction normalisation BEFORE fusion
    o   = sum_d softmax_d(W_f u) o_d        learned adaptive fusion, per token and head
    x  <- x + W_o(o * SiLU(W_g u))          output gate
    x  <- x + FFN(LN(x))

State: per direction ``(B, H, Dk, Dv)``, carried as one tensor (4, B, H, Dk, Dv) in direction
order :data:`DIRECTIONS`. A block starts from its learned ``state_init`` (4, H, Dk, Dv), one state
per direction (docs/design.md#one-state-per-direction-for-tsp), unless a carried state (TSP) is given; it returns the final states.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.gated_delta import chunk_gated_delta_rule
from .film import FiLM
from .gates import DecayWriteGates

DIRECTIONS = ("row_forward", "row_backward", "col_forward", "col_backward")
KEY_NORM_EPS = 1e-6
RMS_EPS = 1e-6


@lru_cache(maxsize=64)
def _scan_orders_cpu(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Cached across calls: built outside inference mode so training may reuse what inference made.
    with torch.inference_mode(False):
        return _build_scan_orders(h, w)


def _build_scan_orders(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(h * w)
    cols = rows.view(h, w).t().reshape(-1)
    order = torch.stack([rows, rows.flip(0), cols, cols.flip(0)])  # (4, L) token id at each step
    position = torch.empty_like(order)
    position.scatter_(1, order, rows.expand(4, -1).contiguous())  # step of each token id
    return order, position


def scan_orders(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``order`` (4, L): the token visited at each step per direction; ``position`` its inverse."""
    order, position = _scan_orders_cpu(h, w)
    return order.to(device), position.to(device)


def to_scan_layout(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """(B, L, H, D) tokens -> (4B, H, L, D) direction-major sequences (one gather, one copy)."""
    b, n, heads, d = x.shape
    seq = x[:, order.reshape(-1)].view(b, 4, n, heads, d)
    return seq.permute(1, 0, 3, 2, 4).reshape(4 * b, heads, n, d)


def from_scan_layout(y: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """(4B, H, L, D) scan outputs -> (B, 4, L, H, D) in token order."""
    four_b, heads, n, d = y.shape
    b = four_b // 4
    flat = y.view(4, b, heads, n, d).permute(1, 0, 3, 2, 4).reshape(b, 4 * n, heads, d)
    offsets = torch.arange(4, device=y.device).unsqueeze(1) * n
    return flat[:, (position + offsets).reshape(-1)].view(b, 4, n, heads, d)


class DirectionFusion(nn.Module):
    """Per-direction RMSNorm, then a per-token, per-head softmax mix of the four directions.

    ``o`` (B, 4, L, H, D), ``u`` (B, L, C) -> (B, L, H, D). Normalising each direction first
    means the fusion weights alone decide the mix: a direction whose raw output is
    larger cannot dominate by scale.
    """

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_weight = nn.Parameter(torch.ones(4, 1, heads, head_dim))
        self.logits = nn.Linear(dim, 4 * heads)
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def forward(self, o: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        o = o * torch.rsqrt(o.pow(2).mean(dim=-1, keepdim=True) + RMS_EPS) * self.norm_weight
        b, n, _ = u.shape
        weights = self.logits(u).view(b, n, 4, self.heads).softmax(dim=2)  # (B, L, 4, H)
        return torch.einsum("bdlhe,bldh->blhe", o, weights)


class FeedForward(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(round(dim * ratio))
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BiGDRBlock(nn.Module):
    """See the module docstring. ``lens_dim > 0`` adds ACFM; ``coc_conditioned`` adds DAHG."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        ffn_ratio: float = 2.0,
        conv_kernel: int = 3,
        chunk_size: int = 32,
        lens_dim: int = 0,
        coc_conditioned: bool = False,
    ) -> None:
        super().__init__()
        self.heads, self.head_dim, self.chunk_size = heads, head_dim, chunk_size
        inner = heads * head_dim
        self.norm = nn.LayerNorm(dim)
        self.film = FiLM(lens_dim, dim) if lens_dim else None
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.conv = nn.Conv2d(3 * inner, 3 * inner, conv_kernel, padding=conv_kernel // 2, groups=3 * inner)
        self.gates = DecayWriteGates(dim, heads, coc_conditioned)
        self.fusion = DirectionFusion(dim, heads, head_dim)
        self.out_gate = nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)
        self.ffn = FeedForward(dim, ffn_ratio)
        self.state_init = nn.Parameter(torch.zeros(4, heads, head_dim, head_dim))

    def initial_state(self, batch: int) -> torch.Tensor:
        """The learned per-direction initial state expanded to (4, B, H, Dk, Dv)."""
        return self.state_init.unsqueeze(1).expand(-1, batch, -1, -1, -1)

    def forward(
        self,
        x: torch.Tensor,
        grid_hw: tuple[int, int],
        lens_embedding: torch.Tensor | None = None,
        coc_feature: torch.Tensor | None = None,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, L, C) on an ``h x w`` grid -> (B, L, C) and the final state (4, B, H, D, D).

        ``coc_feature`` (B, L, 1) for DAHG blocks, ``lens_embedding`` (B, E) for ACFM blocks,
        ``state`` (4, B, H, D, D) carried from the previous tile (default: ``state_init``).
        """
        b, n, _ = x.shape
        h, w = grid_hw
        heads, d = self.heads, self.head_dim
        u = self.norm(x)
        if self.film is not None:
            if lens_embedding is None:
                raise ValueError("this block is lens-conditioned (ACFM) and needs lens_embedding")
            u = self.film(u, lens_embedding)
        qkv = self.qkv(u).transpose(1, 2).reshape(b, -1, h, w)
        qkv = F.silu(self.conv(qkv)).flatten(2).transpose(1, 2).view(b, n, 3, heads, d)
        q = F.normalize(qkv[:, :, 0], dim=-1, eps=KEY_NORM_EPS)
        k = F.normalize(qkv[:, :, 1], dim=-1, eps=KEY_NORM_EPS)
        g, beta = self.gates(u, coc_feature)
        # q, k, v, g, beta share one layout gather.
        packed = torch.cat([q, k, qkv[:, :, 2], g.unsqueeze(-1), beta.unsqueeze(-1)], dim=-1)
        order, position = scan_orders(h, w, x.device)
        seq = to_scan_layout(packed, order)
        q4, k4, v4, g4, beta4 = (t.contiguous() for t in seq.split([d, d, d, 1, 1], dim=-1))
        s0 = self.initial_state(b) if state is None else state
        o4, s1 = chunk_gated_delta_rule(
            q4, k4, v4, g4.squeeze(-1), beta4.squeeze(-1), initial_state=s0.reshape(4 * b, heads, d, d),
            chunk_size=self.chunk_size,
        )
        o = self.fusion(from_scan_layout(o4, position), u).reshape(b, n, heads * d)
        x = x + self.out(o * F.silu(self.out_gate(u)))
        return x + self.ffn(x), s1.view(4, b, heads, d, d)
