"""Gated delta rule: chunked WY/UT form against the per-token recurrence and an independent loop."""

import math

import pytest
import torch
import torch.nn.functional as F

from bokehcli.ops.gated_delta import chunk_gated_delta_rule, recurrent_gated_delta_rule


def literal_loop(q, k, v, g, beta, initial_state=None):
    """The delta rule literally, one (batch, head) matrix at a time:
    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,  o_t = S_t^T q_t."""
    b, h, n, dk = q.shape
    dv = v.shape[-1]
    eye = torch.eye(dk, dtype=q.dtype)
    o = torch.zeros(b, h, n, dv, dtype=q.dtype)
    s_final = torch.zeros(b, h, dk, dv, dtype=q.dtype)
    for i in range(b):
        for j in range(h):
            s = torch.zeros(dk, dv, dtype=q.dtype) if initial_state is None else initial_state[i, j].clone()
            for t in range(n):
                kt, bt = k[i, j, t], beta[i, j, t]
                s = math.exp(g[i, j, t]) * (eye - bt * torch.outer(kt, kt)) @ s + bt * torch.outer(kt, v[i, j, t])
                o[i, j, t] = s.T @ q[i, j, t]
            s_final[i, j] = s
    return o, s_final


def make_inputs(b, h, n, dk, dv, dtype=torch.float64, seed=0, g_scale=0.3):
    gen = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(b, h, n, dk, generator=gen, dtype=dtype), dim=-1)
    k = F.normalize(torch.randn(b, h, n, dk, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(b, h, n, dv, generator=gen, dtype=dtype)
    g = -g_scale * torch.rand(b, h, n, generator=gen, dtype=dtype)
    beta = torch.rand(b, h, n, generator=gen, dtype=dtype)
    s0 = torch.randn(b, h, dk, dv, generator=gen, dtype=dtype)
    return (q, k, v, g, beta), s0


def max_err(a, b):
    return (a - b).abs().max().item()


@pytest.mark.parametrize("n", [1, 7, 32, 33, 100, 1100])  # 1100 crosses a 1024-token segment
@pytest.mark.parametrize("with_state", [False, True])
def test_chunk_equals_recurrent_float64(n, with_state):
    x, s0 = make_inputs(2, 3, n, 8, 5)
    s0 = s0 if with_state else None
    o_ref, s_ref = recurrent_gated_delta_rule(*x, initial_state=s0)
    o, s = chunk_gated_delta_rule(*x, initial_state=s0)
    assert o.shape == (2, 3, n, 5) and s.shape == (2, 3, 8, 5)
    assert o.dtype == s.dtype == torch.float64
    assert max_err(o, o_ref) < 1e-8 and max_err(s, s_ref) < 1e-8


@pytest.mark.parametrize("chunk_size", [1, 5, 16, 64, 1000])
def test_chunk_size_is_only_a_speed_choice(chunk_size):
    x, s0 = make_inputs(1, 2, 77, 6, 6, seed=1)
    o_ref, s_ref = recurrent_gated_delta_rule(*x, initial_state=s0)
    o, s = chunk_gated_delta_rule(*x, initial_state=s0, chunk_size=chunk_size)
    assert max_err(o, o_ref) < 1e-8 and max_err(s, s_ref) < 1e-8


def test_both_equal_literal_spec_loop():
    x, s0 = make_inputs(2, 2, 45, 4, 3, seed=2)
    o_lit, s_lit = literal_loop(*x, initial_state=s0)
    for fn in (recurrent_gated_delta_rule, chunk_gated_delta_rule):
        o, s = fn(*x, initial_state=s0)
        assert max_err(o, o_lit) < 1e-10 and max_err(s, s_lit) < 1e-10


@pytest.mark.parametrize("fn", [recurrent_gated_delta_rule, chunk_gated_delta_rule])
@pytest.mark.parametrize("split", [1, 40, 64])
def test_split_sequence_with_carried_state_equals_whole(fn, split):
    x, s0 = make_inputs(1, 2, 150, 8, 8, seed=3)
    o_whole, s_whole = fn(*x, initial_state=s0)
    o1, s1 = fn(*(t[:, :, :split] for t in x), initial_state=s0)
    o2, s2 = fn(*(t[:, :, split:] for t in x), initial_state=s1)
    assert max_err(torch.cat([o1, o2], dim=2), o_whole) < 1e-8 and max_err(s2, s_whole) < 1e-8


def test_strong_decay_no_overflow_and_exact():
    """g = -40 per token: a within-chunk cumulative decay of exp(-1280) underflows; only
    differences of cumulative log-decays may be exponentiated."""
    x, s0 = make_inputs(1, 2, 70, 4, 4, seed=4)
    q, k, v, g, beta = x
    g = torch.where(torch.arange(70) % 3 == 0, torch.full_like(g, -40.0), g)
    o_ref, s_ref = recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=s0)
    o, s = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=s0)
    assert torch.isfinite(o).all() and torch.isfinite(s).all()
    assert max_err(o, o_ref) < 1e-8 and max_err(s, s_ref) < 1e-8


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_strong_decay_gives_no_subnormals(dtype):
    """Decays that underflow into subnormal floats slow CPU arithmetic ~10x: decays below
    sqrt(tiny) are exactly 0. With zero keys nothing is written, so a first-token decay of a few
    times tiny would scale the state into subnormals; with writes, g from -1 to -800 per token
    (exp(-800) underflows even float64) takes both paths of the chunked form."""
    x, s0 = make_inputs(1, 2, 96, 8, 8, dtype=dtype, seed=14)
    q, k, v, g, beta = x
    tiny = torch.finfo(dtype).tiny
    first_token_only = torch.zeros_like(g).index_fill_(-1, torch.tensor([0]), math.log(tiny) + 2.0)
    steep = -torch.logspace(0, math.log10(800), 96, dtype=dtype).expand_as(g)
    cases = [(torch.zeros_like(k), first_token_only), (k, steep)]
    for keys, log_decay in cases:
        o_ref, s_ref = recurrent_gated_delta_rule(q, keys, v, log_decay, beta, initial_state=s0)
        for fn in (recurrent_gated_delta_rule, chunk_gated_delta_rule):
            o, s = fn(q, keys, v, log_decay, beta, initial_state=s0)
            for t in (o, s):
                assert torch.isfinite(t).all() and not ((t != 0) & (t.abs() < tiny)).any()
            assert max_err(o, o_ref) < 1e-5 and max_err(s, s_ref) < 1e-5


def test_identical_keys_and_full_writes_stay_exact():
    """Flat image regions give identical keys: A has all-equal entries, the worst case for
    power-series inverses. beta near 1, no decay."""
    x, s0 = make_inputs(1, 1, 96, 8, 8, seed=5)
    q, k, v, g, beta = x
    k = k[:, :, :1].expand_as(k)
    o_ref, s_ref = recurrent_gated_delta_rule(q, k, v, torch.zeros_like(g), torch.full_like(beta, 0.999), s0)
    o, s = chunk_gated_delta_rule(q, k, v, torch.zeros_like(g), torch.full_like(beta, 0.999), s0)
    assert max_err(o, o_ref) < 1e-8 and max_err(s, s_ref) < 1e-8
    o32, _ = chunk_gated_delta_rule(*(t.float() for t in (q, k, v, torch.zeros_like(g), torch.full_like(beta, 0.999))),
                                    initial_state=s0.float())
    assert max_err(o32.double(), o_ref) < 1e-4


def test_non_contiguous_inputs():
    """The network passes slices of one packed tensor."""
    x, s0 = make_inputs(2, 2, 50, 4, 4, seed=6)
    q, k, v, g, beta = x
    packed = torch.cat([q, k, v, g.unsqueeze(-1), beta.unsqueeze(-1)], dim=-1)
    views = packed[..., :4], packed[..., 4:8], packed[..., 8:12], packed[..., 12], packed[..., 13]
    o_ref, s_ref = recurrent_gated_delta_rule(*x, initial_state=s0)
    o, s = chunk_gated_delta_rule(*views, initial_state=s0)
    assert max_err(o, o_ref) < 1e-8 and max_err(s, s_ref) < 1e-8


def test_float32_close_to_float64():
    x, s0 = make_inputs(1, 2, 300, 32, 32, seed=7, g_scale=0.05)
    o_ref, s_ref = recurrent_gated_delta_rule(*x, initial_state=s0)
    o, s = chunk_gated_delta_rule(*(t.float() for t in x), initial_state=s0.float())
    assert o.dtype == s.dtype == torch.float32
    assert max_err(o.double(), o_ref) < 1e-4 and max_err(s.double(), s_ref) < 1e-4


def test_bfloat16_runs_and_is_close():
    x, s0 = make_inputs(1, 2, 200, 16, 16, seed=8)
    xb = [t.bfloat16() for t in x]
    o_ref, s_ref = recurrent_gated_delta_rule(*(t.double() for t in xb), initial_state=s0.bfloat16().double())
    for fn in (recurrent_gated_delta_rule, chunk_gated_delta_rule):
        o, s = fn(*xb, initial_state=s0.bfloat16())
        assert o.dtype == s.dtype == torch.bfloat16
        # Computed in float32; only the final rounding to bfloat16 (8 bits) remains.
        assert max_err(o.double(), o_ref) <= 1e-2 * o_ref.abs().max().item()
        assert max_err(s.double(), s_ref) <= 1e-2 * s_ref.abs().max().item()


def test_gradients_equal_recurrent_gradients():
    x, s0 = make_inputs(1, 2, 37, 5, 4, seed=9)
    grads = []
    for fn in (recurrent_gated_delta_rule, chunk_gated_delta_rule):
        inputs = [t.clone().requires_grad_() for t in (*x, s0)]
        o, s = fn(*inputs[:5], initial_state=inputs[5])  # L = 37: two chunks
        gen = torch.Generator().manual_seed(10)
        loss = (o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() + (s * s).sum()
        grads.append(torch.autograd.grad(loss, inputs))
    for name, a, b in zip(("q", "k", "v", "g", "beta", "initial_state"), *grads):
        assert max_err(a, b) < 1e-8, name


def test_gradcheck_chunk():
    x, s0 = make_inputs(1, 1, 11, 3, 2, seed=11)
    inputs = tuple(t.clone().requires_grad_() for t in (*x, s0))
    assert torch.autograd.gradcheck(
        lambda q, k, v, g, beta, s: chunk_gated_delta_rule(q, k, v, g, beta, s, chunk_size=4), inputs
    )


def test_state_norm_bounded_over_long_scan():
    """|k| = 1, beta in (0, 1): I - beta k k^T has norm <= 1, so with |v| <= 1 each step gives
    |S_t| <= alpha_t |S_{t-1}| + 1, hence |S_t| <= |S_0| + 1 / (1 - alpha_max) for all t."""
    b, h, d, n, seg = 1, 2, 16, 20_000, 2000
    alpha_max = 0.999
    gen = torch.Generator().manual_seed(12)
    state = 3.0 * F.normalize(torch.randn(b, h, d * d, generator=gen), dim=-1).view(b, h, d, d)
    bound = state.flatten(2).norm(dim=-1).max().item() + 1.0 / (1.0 - alpha_max)
    norms = []
    for _ in range(n // seg):
        q = F.normalize(torch.randn(b, h, seg, d, generator=gen), dim=-1)
        k = F.normalize(torch.randn(b, h, seg, d, generator=gen), dim=-1)
        v = F.normalize(torch.randn(b, h, seg, d, generator=gen), dim=-1)
        g = torch.log(alpha_max + (1 - alpha_max) * torch.rand(b, h, seg, generator=gen)).clamp(max=math.log(alpha_max))
        beta = torch.rand(b, h, seg, generator=gen).clamp(1e-3, 1 - 1e-3)
        o, state = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=state)
        assert torch.isfinite(o).all()
        norms.append(state.flatten(2).norm(dim=-1).max().item())
    assert max(norms) <= bound
    assert max(norms[len(norms) // 2:]) <= 1.05 * max(norms[: len(norms) // 2])  # no creep


def test_zero_keys_give_no_nan():
    x, s0 = make_inputs(1, 2, 40, 4, 4, seed=13)
    q, k, v, g, beta = x
    k = F.normalize(k * (torch.arange(40) % 3 != 0).unsqueeze(-1), dim=-1, eps=1e-6)  # rows of zeros
    o_ref, s_ref = recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=s0)
    o, s = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=s0)
    assert torch.isfinite(o).all() and torch.isfinite(s).all()
    assert max_err(o, o_ref) < 1e-8 and max_err(s, s_ref) < 1e-8


def test_shape_errors():
    x, s0 = make_inputs(1, 2, 8, 4, 4)
    with pytest.raises(ValueError, match="gated delta rule expects"):
        chunk_gated_delta_rule(x[0], x[1][..., :3], *x[2:])
    with pytest.raises(ValueError, match="initial_state"):
        recurrent_gated_delta_rule(*x, initial_state=s0[:, :1])
