"""Gated delta rule (GatedDeltaNet, Yang, Kautz & Hatamizadeh, arXiv 2412.06464): per-token
reference and chunked WY/UT form.

Shapes: q, k (B, H, L, Dk); v (B, H, L, Dv); g, beta (B, H, L); state S (B, H, Dk, Dv).
With ``alpha_t = exp(g_t)`` (g <= 0), ``beta_t`` in (0, 1) and keys L2-normalised by the caller::

    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T
    o_t = S_t^T q_t                                  (no scale on q: the caller applies one if wanted)

Both functions return ``(o, S_L)`` with ``o`` (B, H, L, Dv); ``S_0`` is ``initial_state`` or zeros.
``g`` must be finite (alpha > 0): the chunked form takes differences of its cumulative sums.
bfloat16/float16 inputs are computed in float32 and the results cast back; float32 and float64
are computed in their own precision. Both are differentiable.

Chunked form. Rewrite one step as ``S_t = alpha_t S_{t-1} + k_t u_t^T`` with the "new value"
``u_t = beta_t (v_t - alpha_t S_{t-1}^T k_t)``. In a chunk of C tokens entering with state S,
let ``gamma_t = g_1 + ... + g_t`` (within the chunk), ``Gamma_t = exp(gamma_t)`` and
``E_ti = exp(gamma_t - gamma_i)`` for i <= t, else 0. Then, rows being tokens::

    (I + A) U = diag(beta) V - diag(beta Gamma) K S,   A_ti = beta_t E_ti k_t.k_i  (i < t)
    T = (I + A)^-1                      unit lower triangular (the WY/UT transform)
    U = U0 - W S,                       U0 = T diag(beta) V,  W = T diag(beta Gamma) K
    O = diag(Gamma) Q S + M U,          M_ti = E_ti q_t.k_i  (i <= t)
    S' = Gamma_C S + Kd^T U,            Kd = diag(exp(gamma_C - gamma)) K

so each chunk is an affine map of its entering state, computed for all chunks at once::

    S' = P S + R,   P = Gamma_C I - Kd^T W,   R = Kd^T U0
    O  = Q' S + O0, Q' = diag(Gamma) Q - M W, O0 = M U0

and only ``S' = P S + R`` (one batched matmul per chunk) runs sequentially. Decays below
``sqrt(tiny)`` of the compute dtype are exactly 0 in both functions (subnormals are slow on CPU).
When a chunk's whole decay ``Gamma_C`` stays above that floor, ``E_ti = Gamma_t / Gamma_i`` is a
row scaling of the operands (no overflow possible); otherwise ``E`` is formed from ``exp`` of
differences ``gamma_t - gamma_i <= 0``, masked before the exp, never by dividing by a tiny decay.
``T`` comes from a blocked 2x2 inversion, which multiplies only blocks of ``A`` and of ``T``
itself (a Neumann/doubling product would form powers of ``A`` whose entries grow combinatorially
when neighbouring keys are alike, as in flat image regions).

Speed on CPU (docs/design.md#chunked-gated-delta-rule): chunks of 16-32 tokens; tensors stored chunk-major
``(n_chunks * B * H, C, d)`` so every batched matmul writes contiguous output; the sequence is
processed in segments of about ``SEGMENT_ROWS / (B * H)`` tokens with the state carried, which
keeps each op's operands in cache. None of this changes the result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_CHUNK = 32  # 16-32 was fastest on a 2-core CPU, 64 barely beat the loop; an upper bound
NEUMANN_BLOCK = 8  # diagonal blocks inverted by the Neumann product (powers stay small)
SEGMENT_ROWS = 4096  # tokens x B x H per segment: keeps each op's operands in cache


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _check_shapes(q, k, v, g, beta, initial_state) -> None:
    b, h, n, dk = q.shape
    dv = v.shape[-1]
    if k.shape != q.shape or v.shape[:3] != (b, h, n) or g.shape != (b, h, n) or beta.shape != (b, h, n):
        raise ValueError(
            "gated delta rule expects q, k (B, H, L, Dk), v (B, H, L, Dv), g, beta (B, H, L); got "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, g {tuple(g.shape)}, "
            f"beta {tuple(beta.shape)}"
        )
    if initial_state is not None and initial_state.shape != (b, h, dk, dv):
        raise ValueError(f"initial_state must be {(b, h, dk, dv)}, got {tuple(initial_state.shape)}")


def recurrent_gated_delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token reference: one step of the recurrence per token. Returns ``(o, S_L)``."""
    _check_shapes(q, k, v, g, beta, initial_state)
    b, h, n, dk = q.shape
    dv = v.shape[-1]
    out_dtype, dtype = q.dtype, _compute_dtype(q.dtype)
    q, k, v, g, beta = (x.to(dtype) for x in (q, k, v, g, beta))
    alpha = _decay(g)
    state = q.new_zeros(b, h, dk, dv) if initial_state is None else initial_state.to(dtype)
    outputs = []
    for t in range(n):
        k_t, a_t = k[:, :, t], alpha[:, :, t, None]
        # alpha (I - beta k k^T) S + beta k v^T  ==  alpha S + k u^T,  u = beta (v - alpha S^T k)
        u_t = beta[:, :, t, None] * (v[:, :, t] - a_t * (k_t.unsqueeze(-2) @ state).squeeze(-2))
        state = a_t.unsqueeze(-1) * state + k_t.unsqueeze(-1) * u_t.unsqueeze(-2)
        outputs.append((q[:, :, t].unsqueeze(-2) @ state).squeeze(-2))
    o = torch.stack(outputs, dim=2) if outputs else v.new_zeros(b, h, 0, dv, dtype=dtype)
    return o.to(out_dtype), state.to(out_dtype)


def _diagonal_blocks(x: torch.Tensor, size: int) -> torch.Tensor:
    """The diagonal (size x size) blocks of ``x`` (N, C, C) as a (N, C / size, size, size) view."""
    n, c, _ = x.shape
    blocks = c // size
    return x.view(n, blocks, size, blocks, size).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)


def _inverse_unit_lower(a: torch.Tensor) -> torch.Tensor:
    """``(I - a)^-1`` for the strictly lower triangular part of ``a`` (N, C, C), C a power of two.

    Diagonal blocks of ``NEUMANN_BLOCK`` by the finite Neumann series in product form,
    ``(I - a)^-1 = (I + a)(I + a^2)(I + a^4)...`` (exact: ``a`` is nilpotent); the powers' entries
    are bounded by small binomials only at this block size. Larger blocks by the blocked 2x2
    recursion ``[[I - X, 0], [-Y, I - Z]]^-1 = [[X', 0], [Z' Y X', Z']]`` (X', Z' the inverses of
    the diagonal blocks), which multiplies only blocks of ``a`` and of the inverse itself.
    Entries of ``a`` on and above the diagonal are ignored.
    """
    n, c, _ = a.shape
    size = min(c, NEUMANN_BLOCK)
    power = _diagonal_blocks(a, size).tril(-1).reshape(-1, size, size)  # (N * C / size, size, size)
    inv = torch.eye(size, dtype=a.dtype, device=a.device) + power
    span = 2
    while span < size:
        power = power @ power
        inv = torch.baddbmm(inv, inv, power)  # inv (I + a^span)
        span *= 2
    inv = inv.view(n, c // size, size, size)
    while size < c:
        pairs = c // (2 * size)
        below = _diagonal_blocks(a, 2 * size)[..., size:, :size]  # (N, pairs, size, size)
        inv_pairs = inv.view(n, pairs, 2, size, size)
        upper_inv, lower_inv = inv_pairs[:, :, 0], inv_pairs[:, :, 1]
        top = F.pad(upper_inv, (0, size))
        bottom = torch.cat([lower_inv @ below @ upper_inv, lower_inv], dim=-1)
        inv, size = torch.cat([top, bottom], dim=-2), 2 * size
    return inv.view(n, c, c)


def _chunk_major(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """(B, H, l, ...) with l = n_chunks * chunk -> (n_chunks, B * H, chunk, ...) view."""
    b, h, n = x.shape[:3]
    return x.reshape(b * h, n // chunk, chunk, *x.shape[3:]).transpose(0, 1)


def _chunk_major_copy(x: torch.Tensor, chunk: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, l, ...) -> contiguous (n_chunks * B * H, chunk, ...) in ``dtype``, in one copy."""
    x = _chunk_major(x, chunk)
    return torch.empty(x.shape, dtype=dtype, device=x.device).copy_(x).flatten(0, 1)


def _decay(log_decay: torch.Tensor) -> torch.Tensor:
    """``exp(log_decay)`` with decays below ``sqrt(tiny)`` of the dtype set to exactly 0.

    Subnormal floats are slow on CPU and cascade through products; a decay this small is zero
    to working precision (e^-43 in float32), and products of two kept decays stay normal.
    """
    floor = _log_decay_floor(log_decay.dtype)
    return torch.where(log_decay >= floor, log_decay.clamp(min=floor).exp(), 0.0)


def _log_decay_floor(dtype: torch.dtype) -> float:
    return 0.5 * math.log(torch.finfo(dtype).tiny)


def _segment(q, k, v, g, beta, state, chunk):
    """One segment (l = n_chunks * chunk tokens) from ``state`` (B*H, Dk, Dv).

    Returns outputs chunk-major (n_chunks, B*H, chunk, Dv) and the final state (B*H, Dk, Dv).
    Matmuls are shared by stacking operands: ``[Q; -beta K] K^T`` gives M and -A,
    ``T [-W' | U0']`` gives ``[-W | U0]``, and ``Kd^T`` and ``M`` each multiply ``[-W | U0]`` once.
    When every chunk decays by at most ``_log_decay_floor`` (the usual case) the decay mask
    factorises, ``E_ti = Gamma_t / Gamma_i``, into row scalings of the operands; otherwise it is
    formed from exps of differences.
    """
    bh, dk, dv = state.shape
    n_chunks = q.shape[2] // chunk
    n = n_chunks * bh
    dtype = state.dtype
    q, k, v, g, beta = (_chunk_major_copy(x, chunk, dtype) for x in (q, k, v, g, beta))  # (N, C, d), (N, C)
    beta = beta.unsqueeze(-1)

    gamma = g.cumsum(-1)
    decay_in = _decay(gamma).unsqueeze(-1)  # Gamma_t: decay from the chunk start to t, (N, C, 1)
    decay_out = _decay(gamma[:, -1:] - gamma).unsqueeze(-1)  # decay from t to the chunk end
    q_in = q * decay_in  # diag(Gamma) Q
    k_write = k * (-beta * decay_in)  # -diag(beta Gamma) K
    if bool((gamma[:, -1] >= _log_decay_floor(dtype)).all()):
        # E_ti = Gamma_t / Gamma_i with every Gamma in [tiny^(1/2), 1]: no overflow, no underflow.
        scores = torch.cat([q_in, k_write], dim=1) @ (k / decay_in).transpose(-1, -2)  # (N, 2C, C)
        m = scores[:, :chunk].tril_()  # M, lower incl. diagonal
    else:
        causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
        # exp of differences only, masked before the exp (no division by tiny decays).
        decay = _decay((gamma.unsqueeze(-1) - gamma.unsqueeze(-2)).masked_fill_(~causal, -math.inf))
        scores = (torch.cat([q, k * -beta], dim=1) @ k.transpose(-1, -2)).view(n, 2, chunk, chunk)
        scores = (scores * decay.unsqueeze(1)).view(n, 2 * chunk, chunk)
        m = scores[:, :chunk]
    minus_a = scores[:, chunk:]  # -A; only its strictly lower part is read
    w_u0 = _inverse_unit_lower(minus_a) @ torch.cat([k_write, v * beta], dim=-1)  # [-W | U0]
    k_w_u0 = (k * decay_out).transpose(-1, -2) @ w_u0  # [-Kd^T W | Kd^T U0], (N, Dk, Dk + Dv)
    m_w_u0 = m @ w_u0  # [-M W | M U0], (N, C, Dk + Dv)

    transition = k_w_u0[..., :dk]
    transition.diagonal(dim1=-2, dim2=-1).add_(decay_in[:, -1])  # Gamma_C I - Kd^T W
    transition = transition.view(n_chunks, bh, dk, dk)
    write = k_w_u0[..., dk:].view(n_chunks, bh, dk, dv)
    q_state = m_w_u0[..., :dk] + q_in  # diag(Gamma) Q - M W

    entering = []
    for j in range(n_chunks):
        entering.append(state)
        state = torch.baddbmm(write[j], transition[j], state)
    entering = torch.stack(entering).view(n, dk, dv)
    o = torch.baddbmm(m_w_u0[..., dk:], q_state, entering).view(n_chunks, bh, chunk, dv)
    return o, state


def chunk_gated_delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked WY/UT form of :func:`recurrent_gated_delta_rule`; same result, much faster.

    ``chunk_size`` is an upper bound: the chunk length used is the largest power of two not above
    ``min(chunk_size, MAX_CHUNK)``. Any L works: the last chunk is padded with tokens that leave
    the state unchanged (k = v = q = 0, g = 0, beta = 0) and their outputs are dropped.
    """
    _check_shapes(q, k, v, g, beta, initial_state)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    b, h, n, dk = q.shape
    dv = v.shape[-1]
    out_dtype, dtype = q.dtype, _compute_dtype(q.dtype)
    chunk = 1 << (min(chunk_size, MAX_CHUNK).bit_length() - 1)
    seg_len = max(SEGMENT_ROWS // (b * h * chunk), 1) * chunk
    n_padded = -(-n // chunk) * chunk
    state = q.new_zeros(b * h, dk, dv, dtype=dtype) if initial_state is None else initial_state.to(dtype)
    state = state.reshape(b * h, dk, dv)
    # Outputs go straight into place: (B, H, n_chunks, C, Dv) viewed per segment.
    o = q.new_empty(b, h, n_padded // chunk, chunk, dv, dtype=dtype)
    for start in range(0, n, seg_len):
        stop = min(start + seg_len, n)
        pad = -(stop - start) % chunk
        parts = [x[:, :, start:stop] for x in (q, k, v, g, beta)]
        if pad:
            parts = [F.pad(x, (0, 0, 0, pad) if x.dim() == 4 else (0, pad)) for x in parts]
        o_seg, state = _segment(*parts, state, chunk)
        first = start // chunk
        o[:, :, first : first + o_seg.shape[0]] = o_seg.permute(1, 0, 2, 3).view(b, h, -1, chunk, dv)
    o = o.view(b, h, n_padded, dv)[:, :, :n]
    return o.to(out_dtype), state.view(b, h, dk, dv).to(out_dtype)
