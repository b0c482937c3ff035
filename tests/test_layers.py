"""BokehFlow building blocks: gates (DAHG), ACFM, stem, scan layouts, fusion, BiGDR, heads.

Seed-audit items covered here: #3 (no BatchNorm in the stem), #5 (zero keys), #6 (bounded state over a very
long scan), #7 (bounded depth head), #8 (variant widths), #9 (per-direction norm before fusion),
#10 (per-direction S_init and carried state shape).
"""

import math

import pytest
import torch

from bokehcli.layers.bigdr import (DIRECTIONS, BiGDRBlock, DirectionFusion, from_scan_layout, scan_orders,
                                   to_scan_layout)
from bokehcli.layers.film import FiLM, LensEmbedding, lens_features
from bokehcli.layers.gates import ALPHA_ABS_MIN, ALPHA_MAX, DecayWriteGates, bounded_gates
from bokehcli.layers.heads import bounded_inverse_depth
from bokehcli.layers.stem import ConvStem
from bokehcli.models.config import VARIANTS, BokehFlowConfig
from bokehcli.ops.gated_delta import chunk_gated_delta_rule
from bokehcli.render.with_depth import SHARP_COC_PX, refinement_gate

torch.manual_seed(0)


# --- gates -----------------------------------------------------------------------------------

def test_gates_bounded_and_finite_for_extreme_logits():
    values = torch.tensor([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4])
    a, b, zf, zc = torch.meshgrid(values, values, values, values, indexing="ij")
    a, b, zf, zc = (t.clone().requires_grad_() for t in (a, b, zf, zc))
    g, beta = bounded_gates(a, b, zf, zc)
    assert torch.isfinite(g).all() and torch.isfinite(beta).all()
    assert g.max() <= math.log(ALPHA_MAX) + 1e-7 and ALPHA_MAX < 1.0
    assert g.min() >= math.log(ALPHA_ABS_MIN) - 1e-5
    assert beta.min() >= 0.0 and beta.max() <= 1.0
    (g.sum() + beta.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (a, b, zf, zc))


def test_dahg_floor_and_ceiling_hold():
    a = torch.randn(1000) * 10
    b = torch.randn(1000) * 10
    zf, zc = torch.full_like(a, 2.0), torch.full_like(a, -1.0)
    g, beta = bounded_gates(a, b, zf, zc)
    alpha_floor = ALPHA_ABS_MIN + (0.95 - ALPHA_ABS_MIN) * torch.sigmoid(zf)
    assert (g.exp() >= alpha_floor - 1e-6).all()
    assert (beta <= torch.sigmoid(zc) + 1e-7).all()


def test_dahg_gate_uses_coc_feature():
    gates = DecayWriteGates(16, 2, coc_conditioned=True)
    torch.nn.init.normal_(gates.coc_proj.weight)
    x = torch.randn(1, 5, 16)
    g0, _ = gates(x, torch.zeros(1, 5, 1))
    g1, _ = gates(x, torch.full((1, 5, 1), 3.0))
    assert not torch.allclose(g0, g1)
    with pytest.raises(ValueError, match="coc_feature"):
        gates(x)


def test_state_norm_bounded_over_very_long_scan():
    """Audit #6: contraction + bounded write keeps |S| <= max(|S0|, max|v| / (1 - ALPHA_MAX)) with
    no renormalisation, even at the weakest decay the gates allow; and it plateaus in practice."""
    batch, heads, dk, dv, seg, n_seg = 2, 2, 16, 16, 4096, 12  # 49k tokens, ~10 memory horizons
    gates = DecayWriteGates(8, heads)
    bound = 1.0 / (1.0 - ALPHA_MAX)
    norms = []
    state = None
    gen = torch.Generator().manual_seed(1)
    for i in range(n_seg):
        x = torch.randn(batch, seg, 8, generator=gen) * 20  # drives gates to their extremes
        with torch.no_grad():
            g, beta = gates(x)
        g = g.transpose(1, 2).contiguous()
        g[0] = math.log(ALPHA_MAX)  # sample 0: weakest decay everywhere (worst case)
        beta = beta.transpose(1, 2).contiguous()
        k = torch.nn.functional.normalize(torch.randn(batch, heads, seg, dk, generator=gen), dim=-1, eps=1e-6)
        k[:, :, ::7] = 0.0  # zero keys too
        v = torch.nn.functional.normalize(torch.randn(batch, heads, seg, dv, generator=gen), dim=-1)
        q = torch.nn.functional.normalize(torch.randn(batch, heads, seg, dk, generator=gen), dim=-1)
        _, state = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=state, chunk_size=32)
        norms.append(state.flatten(2).norm(dim=-1).max().item())
    assert all(math.isfinite(n) for n in norms)
    assert max(norms) <= bound
    # In practice it plateaus far below the bound: no creep from the first to the second half.
    assert max(norms[n_seg // 2:]) <= 1.25 * max(norms[: n_seg // 2])


# --- ACFM ------------------------------------------------------------------------------------

def test_lens_features_finite_at_infinity_focus_and_film_starts_as_identity():
    feats = lens_features(torch.tensor([1.4, 16.0]), torch.tensor([50.0, 200.0]),
                          torch.tensor([math.inf, 0.3]), torch.tensor([43.27, 28.4]))
    assert torch.isfinite(feats).all()
    assert feats[0, 2] == 0.0 and feats[0, 1] == 0.0
    emb = LensEmbedding(8)(feats)
    film = FiLM(8, 4)
    x = torch.randn(2, 3, 4)
    assert torch.equal(film(x, emb), x)
    torch.nn.init.normal_(film.proj.weight)
    assert not torch.allclose(film(x, emb)[0], film(x, emb.flip(0))[0])


# --- stem: per-sample norm -------------------------------------------------------------------------

def test_stem_has_no_batchnorm_and_is_batch_independent_in_train_mode():
    stem = ConvStem(16, 32).train()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in stem.modules())
    x = torch.rand(3, 3, 32, 48)
    skip, tokens = stem(x[:1])  # batch size 1 in train mode
    assert skip.shape == (1, 16, 8, 12) and tokens.shape == (1, 32, 4, 6)
    skip3, tokens3 = stem(x)
    assert torch.allclose(tokens3[:1], tokens, atol=1e-5)  # no batch statistics


def test_stem_features_of_a_tile_equal_those_of_the_whole_image_inside_it():
    """Per-pixel normalisation: a tile's stem features away from its border are the whole image's
    (image-wide statistics such as GroupNorm's would shift every feature of the tile)."""
    torch.manual_seed(4)
    stem = ConvStem(16, 32).eval()
    x = torch.rand(1, 3, 64, 96)
    x[..., :, 48:] *= 0.3  # tile statistics differ from the image's
    _, whole = stem(x)
    _, tile = stem(x[..., 16:64, 32:96])
    assert torch.allclose(tile[..., 1:, 1:], whole[..., 3:, 5:], atol=1e-5)


# --- scan layouts ----------------------------------------------------------------------------

def test_scan_orders_visit_the_grid_in_the_four_directions():
    h, w = 2, 3
    order, position = scan_orders(h, w, torch.device("cpu"))
    ids = torch.arange(h * w).view(h, w)
    assert order[0].tolist() == ids.flatten().tolist()
    assert order[1].tolist() == ids.flatten().flip(0).tolist()
    assert order[2].tolist() == ids.t().flatten().tolist()
    assert order[3].tolist() == ids.t().flatten().flip(0).tolist()
    assert len(DIRECTIONS) == 4
    for d in range(4):
        assert torch.equal(order[d][position[d]], torch.arange(h * w))


def test_scan_layout_round_trip_and_batch_order():
    b, h, w, heads, d = 2, 3, 4, 2, 5
    x = torch.randn(b, h * w, heads, d)
    order, position = scan_orders(h, w, x.device)
    seq = to_scan_layout(x, order)
    assert seq.shape == (4 * b, heads, h * w, d)
    # Batch index dir * B + b holds sample b in direction dir.
    assert torch.equal(seq[1 * b + 1, :, 0], x[1, -1])  # row backward starts at the last token
    assert torch.equal(seq[2 * b + 0, :, 1], x[0, w])  # column forward: second token is (1, 0)
    back = from_scan_layout(seq, position)
    for direction in range(4):
        assert torch.equal(back[:, direction], x)


# --- direction fusion -------------------------------------------------------------------

def test_fusion_normalises_each_direction_before_mixing():
    fusion = DirectionFusion(8, 2, 4)
    torch.nn.init.normal_(fusion.logits.weight)
    o = torch.randn(1, 4, 6, 2, 4)
    u = torch.randn(1, 6, 8)
    ref = fusion(o, u)
    louder = o.clone()
    louder[:, 2] *= 1000.0  # one direction with a much larger raw scale must not dominate
    assert torch.allclose(fusion(louder, u), ref, atol=1e-4)
    # The learned weights do decide: different logits give a different mix.
    torch.nn.init.normal_(fusion.logits.weight)
    assert not torch.allclose(fusion(o, u), ref)


# --- BiGDR block -----------------------------------------------------------------------------

def _block(**kw):
    return BiGDRBlock(dim=16, heads=2, head_dim=8, chunk_size=8, **kw)


def test_block_state_is_per_direction_and_carried():
    """Audit #10: S_init is (4, H, Dk, Dv), returned states are (4, B, H, Dk, Dv) and feed the next call."""
    block = _block()
    assert block.state_init.shape == (4, 2, 8, 8)
    x = torch.randn(2, 12, 16)
    y, state = block(x, (3, 4))
    assert y.shape == x.shape and state.shape == (4, 2, 2, 8, 8)
    assert not torch.allclose(state[0], state[1])  # directions end at different tokens
    y2, state2 = block(x, (3, 4), state=state)
    assert state2.shape == state.shape and not torch.allclose(y2, y)
    # Each direction's own initial state is used: every slice of S_init gets a gradient.
    with torch.no_grad():
        block.state_init.normal_()
    y, _ = block(x, (3, 4))
    y.square().sum().backward()
    grad = block.state_init.grad
    assert all(grad[d].abs().sum() > 0 for d in range(4))


def test_carried_state_of_each_direction_seeds_the_same_direction():
    """Audit #10: a change in the carried state of direction d changes only direction d's final state."""
    torch.manual_seed(0)
    block = _block()
    x = torch.randn(1, 12, 16)
    _, state = block(x, (3, 4))
    _, base = block(x, (3, 4), state=state)
    for d in range(4):
        nudged = state.clone()
        nudged[d] += 0.5 * torch.randn_like(nudged[d])
        _, out = block(x, (3, 4), state=nudged)
        changed = [(out[e] - base[e]).abs().max().item() > 1e-6 for e in range(4)]
        assert changed == [e == d for e in range(4)], (d, changed)


def test_zero_keys_give_no_nan():
    """Audit #5: all-zero q/k (zero projection and conv) -> finite outputs and gradients."""
    block = _block()
    torch.nn.init.zeros_(block.qkv.weight)
    torch.nn.init.zeros_(block.conv.weight)
    torch.nn.init.zeros_(block.conv.bias)
    x = torch.randn(1, 12, 16, requires_grad=True)
    y, state = block(x, (3, 4))
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(state).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)
    assert torch.isfinite(x.grad).all()


def test_block_conditioning_inputs_required():
    block = _block(lens_dim=4, coc_conditioned=True)
    x = torch.randn(1, 4, 16)
    with pytest.raises(ValueError, match="lens_embedding"):
        block(x, (2, 2), coc_feature=torch.zeros(1, 4, 1))
    y, _ = block(x, (2, 2), torch.zeros(1, 4), torch.zeros(1, 4, 1))
    assert y.shape == x.shape


# --- heads: bounded depth ------------------------------------------------------------------------

def test_inverse_depth_head_is_bounded_with_finite_gradients():
    logit = torch.tensor([-1e6, -50.0, 0.0, 50.0, 1e6], requires_grad=True)
    inv = bounded_inverse_depth(logit, 0.1, 100.0)
    assert torch.isfinite(inv).all()
    assert inv.min() >= 1 / 100.0 * (1 - 1e-6) and inv.max() <= 10.0 * (1 + 1e-6)
    assert inv[0].item() == pytest.approx(0.01, rel=1e-5) and inv[-1].item() == pytest.approx(10.0, rel=1e-5)
    inv.sum().backward()
    assert torch.isfinite(logit.grad).all()
    assert bounded_inverse_depth(torch.zeros(1), 0.1, 100.0).item() == pytest.approx(math.sqrt(0.01 * 10.0))


def test_refinement_gate_is_zero_in_focus():
    coc = torch.tensor([-5.0, -SHARP_COC_PX, -0.3, 0.0, 0.5, SHARP_COC_PX, 2.0, 10.0])
    gate = refinement_gate(coc)
    assert gate[1:6].eq(0).all()
    assert gate[0] == 1.0 and gate[-1] == 1.0 and 0 < gate[6] < 1


# --- config ---------------------------------------------------------------------------------

def test_variants_have_the_specified_widths():
    small, base = VARIANTS["small"], VARIANTS["base"]
    assert (small.dim, small.heads, small.head_dim, small.blocks) == (96, 4, 24, 6)
    assert small.heads * small.head_dim == small.dim
    assert (base.heads, base.head_dim) == (6, 32) and base.heads * base.head_dim == base.dim == 192
    block = BiGDRBlock(base.dim, base.heads, base.head_dim)
    assert block.qkv.weight.shape == (3 * 192, 192) and block.out.weight.shape == (192, 192)


def test_config_json_round_trip_and_validation():
    cfg = VARIANTS["nano"]
    assert BokehFlowConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="keys differ"):
        BokehFlowConfig.from_json('{"dim": 3}')
    with pytest.raises(ValueError, match="multiple"):
        BokehFlowConfig(blocks=3, fusion_every=2)
    with pytest.raises(ValueError, match="heads must be an integer from 1"):
        BokehFlowConfig(heads=0)
