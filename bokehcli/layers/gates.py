"""Decay and write-strength gates of the gated delta rule, with DAHG bounds.

Per token and head the scan uses ``alpha = exp(g)`` (decay) and ``beta`` (write strength) in

    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T          (Yang et al. 2024)

Parameterisation (``a``, ``b`` are per-head projections of the token, ``z_f``, ``z_c`` the DAHG
logits of the floor and the ceiling)::

    alpha_raw = exp(-(RATE_MIN + softplus(a)))                 softplus-parameterised decay rate
    alpha_min = ALPHA_ABS_MIN + (ALPHA_FLOOR_MAX - ALPHA_ABS_MIN) sigmoid(z_f)       DAHG floor
    alpha     = alpha_min + (1 - alpha_min) alpha_raw           in [alpha_min, ALPHA_MAX]
    beta_max  = sigmoid(z_c)                                                       DAHG ceiling
    beta      = beta_max sigmoid(b)                             in [0, beta_max] within [0, 1]

``g = log(alpha)`` is computed with ``logaddexp`` so it is finite and exact for any logits.

Stability (docs/design.md#a-bounded-state). With ``|k| = 1`` the matrix ``I - beta k k^T`` has eigenvalues 1 and
``1 - beta``, so its spectral norm is at most 1 for ``beta`` in [0, 1]; hence

    |S_t|_F <= alpha_t |S_{t-1}|_F + beta_t |v_t| <= ALPHA_MAX |S_{t-1}|_F + max|v|

and ``|S_t|_F <= max(|S_0|_F, max|v| / (1 - ALPHA_MAX))`` for every t: each step is a contraction
plus a bounded write, so no renormalisation (which would break the chunked form) is needed.
``ALPHA_MAX < 1`` is what makes the contraction uniform; it caps the memory horizon at about
``1 / (1 - ALPHA_MAX)`` ~ 5000 tokens, more than a 512 px tile at 1/8 resolution holds.
``ALPHA_ABS_MIN`` keeps ``g >= log(1e-4)`` so chunk-wise decay products stay representable.

DAHG (depth-aware hybrid gating): ``z_f`` and ``z_c`` are a learned per-head bias plus, in
CoC-conditioned blocks, a linear function of ``log1p(|coc_px|)`` predicted so far, so strongly
defocused regions can learn longer memory (a higher decay floor) or gentler writes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

RATE_MIN = 1.0 / 256.0
ALPHA_FLOOR_MAX = 0.95
ALPHA_ABS_MIN = 1e-4
ALPHA_MAX = ALPHA_FLOOR_MAX + (1.0 - ALPHA_FLOOR_MAX) * math.exp(-RATE_MIN)


def bounded_gates(
    a: torch.Tensor, b: torch.Tensor, floor_logit: torch.Tensor, ceil_logit: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-decay ``g`` (<= log ALPHA_MAX < 0) and write strength ``beta`` (in [0, 1]).

    All inputs broadcast to a common shape, e.g. ``(B, L, H)``; see the module docstring.
    """
    alpha_min = ALPHA_ABS_MIN + (ALPHA_FLOOR_MAX - ALPHA_ABS_MIN) * torch.sigmoid(floor_logit)
    log_alpha_raw = -(RATE_MIN + F.softplus(a))
    g = torch.logaddexp(torch.log(alpha_min), torch.log1p(-alpha_min) + log_alpha_raw)
    beta = torch.sigmoid(ceil_logit) * torch.sigmoid(b)
    return g, beta


def _softplus_inverse(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


class DecayWriteGates(nn.Module):
    """Per-token, per-head ``(g, beta)`` from token features, bounded by DAHG.

    ``x`` (B, L, C) -> ``g``, ``beta`` (B, L, H). With ``coc_conditioned`` the bounds also take
    ``coc_feature`` (B, L, 1), ``log1p(|coc_px|)`` of the depth predicted so far.

    Initialisation: decay rates spread log-uniformly over the heads so the initial memory
    horizons ``1 / rate`` go from 4 to 128 tokens; floor near 0 and ceiling near 1, i.e. DAHG
    starts almost inactive and learns where bounds help.
    """

    def __init__(self, dim: int, heads: int, coc_conditioned: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.proj = nn.Linear(dim, 2 * heads)
        nn.init.normal_(self.proj.weight, std=0.02)
        horizons = torch.logspace(math.log10(4.0), math.log10(128.0), heads)
        with torch.no_grad():
            self.proj.bias[:heads] = _softplus_inverse(1.0 / horizons - RATE_MIN)
            self.proj.bias[heads:] = 0.0
        self.bound_bias = nn.Parameter(torch.cat([torch.full((heads,), -4.0), torch.full((heads,), 4.0)]))
        self.coc_proj = nn.Linear(1, 2 * heads, bias=False) if coc_conditioned else None
        if self.coc_proj is not None:
            nn.init.zeros_(self.coc_proj.weight)

    def forward(
        self, x: torch.Tensor, coc_feature: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.proj(x).split(self.heads, dim=-1)
        bounds = self.bound_bias
        if self.coc_proj is not None:
            if coc_feature is None:
                raise ValueError("this gate is CoC-conditioned (DAHG) and needs coc_feature")
            bounds = bounds + self.coc_proj(coc_feature)
        floor_logit, ceil_logit = bounds.split(self.heads, dim=-1)
        return bounded_gates(a, b, floor_logit, ceil_logit)
