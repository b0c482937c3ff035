"""Tiled inference with tile state propagation (TSP) and the tiled-training hook."""

import pytest
import torch
import torch.nn.functional as F

from bokehcli.models.bokehflow import BokehFlow, LensBatch
from bokehcli.models.inference import (_ramp, forward_tiled, predict, render_prediction, run_tiles,
                                       serpentine, tile_starts, working_size)
from bokehcli.ops.guided import guided_upsample
from bokehcli.optics import Lens, pixel_pitch_mm

LENS = Lens(focal_mm=50.0, f_number=2.0, focus_m=2.0)


@pytest.fixture(scope="module")
def model(tiny_config) -> BokehFlow:
    torch.manual_seed(0)
    net = BokehFlow(tiny_config).eval()
    with torch.no_grad():  # non-trivial learned initial states
        for block in [*net.depth_blocks, *net.bokeh_blocks]:
            block.state_init.normal_(std=0.5)
    return net


def test_tile_geometry():
    assert tile_starts(100, 0, 8) == [0] and tile_starts(100, 128, 8) == [0]
    starts = tile_starts(200, 64, 16)
    assert starts[0] == 0 and starts[-1] == 200 - 64
    assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:]))
    assert serpentine(2, 3) == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]
    assert working_size(3000, 4000, 1000) == (750, 1000) and working_size(30, 40, 0) == (30, 40)
    assert working_size(30, 40, 100) == (30, 40)
    # Feather weights are positive and 1 away from shared edges.
    w = _ramp(48, 64, 200, 16)
    assert w.min() > 0 and w[16:48].eq(1).all() and w[0] < 0.1 and w[-1] < 0.1
    assert _ramp(0, 64, 64, 16).eq(1).all()


def test_one_tile_equals_whole_image(model):
    torch.manual_seed(1)
    x = torch.rand(3, 40, 56)
    whole = model.network(x[None], LensBatch.from_lens(LENS, pixel_pitch_mm(LENS.sensor_diag_mm, 56, 40)))
    for tile_px in (0, 64):
        pred = predict(model, x, LENS, work_size_px=0, tile_px=tile_px, overlap_px=16)
        assert pred.work_hw == (40, 56)
        assert torch.allclose(pred.inv_depth, whole.inv_depth, atol=1e-6)
        assert torch.allclose(pred.refine_lin, whole.refine_lin, atol=1e-6)
    lb = LensBatch.from_lens(LENS, 0.01)
    a = model(x[None], lb)
    b = forward_tiled(model, x[None], lb, (1, 1))
    assert torch.equal(a.inv_depth, b.inv_depth) and torch.equal(a.rendered_lin, b.rendered_lin)


def test_network_memory_is_bounded_by_the_tile(model):
    seen = []

    class Spy:
        config = model.config

        def network(self, srgb, lens, inv_depth=None, states=None, cues=None):
            seen.append(tuple(srgb.shape[-2:]))
            return model.network(srgb, lens, inv_depth, states, cues)

    x = torch.rand(3, 150, 200)
    pred = predict(Spy(), x, LENS, work_size_px=160, tile_px=64, overlap_px=16)
    assert pred.inv_depth.shape == (1, 1, 150, 200) and pred.refine_lin.shape == (1, 3, 150, 200)
    assert pred.work_hw == (120, 160)
    assert len(seen) == 3 * 3 and all(h <= 64 and w <= 64 for h, w in seen)
    cfg = model.config
    assert pred.inv_depth.min() >= 1 / cfg.max_depth_m - 1e-7 and pred.inv_depth.max() <= 1 / cfg.min_depth_m + 1e-6
    out = render_prediction(x, pred, LENS)
    assert out.shape == (1, 3, 150, 200) and torch.isfinite(out).all()


def test_tsp_carries_state_between_tiles(model):
    x = torch.rand(1, 3, 32, 64)
    lb = LensBatch.from_lens(LENS, 0.01)
    with torch.no_grad():
        carried, _ = run_tiles(model, x, lb, tile_px=32, overlap_px=0, tsp=True)
        reset, _ = run_tiles(model, x, lb, tile_px=32, overlap_px=0, tsp=False)
    assert torch.equal(carried[..., :32], reset[..., :32])  # first tile: same learned S_init
    assert not torch.allclose(carried[..., 32:], reset[..., 32:])


def test_forward_tiled_is_differentiable_through_carried_states(model):
    x = torch.rand(1, 3, 32, 64, requires_grad=True)
    lb = LensBatch.from_lens(LENS, 0.01)
    out = forward_tiled(model, x, lb, (2, 1), render=False)
    assert out.inv_depth.shape == (1, 1, 32, 64) and out.aux_inv_depth[0].shape == (1, 1, 4, 8)
    out.inv_depth[..., 32:].sum().backward()  # loss on the second tile only
    assert x.grad[..., :24].abs().sum() > 0  # reaches the first tile through the states
    x.grad = None
    forward_tiled(model, x, lb, (2, 1), render=False, tsp=False).inv_depth[..., 32:].sum().backward()
    assert x.grad[..., :24].abs().sum() == 0
    with pytest.raises(ValueError, match="tiles"):
        forward_tiled(model, x, lb, (3, 1))


def test_guided_upsample_follows_photo_edges():
    assert torch.allclose(guided_upsample(torch.full((1, 1, 8, 8), 2.5), torch.rand(1, 1, 64, 64)),
                          torch.full((1, 1, 64, 64), 2.5), atol=1e-5)
    # A depth step at column 37 of 64, seen at 1/8 resolution; the photo has the same edge.
    truth = torch.zeros(1, 1, 64, 64)
    truth[..., 37:] = 1.0
    low = F.adaptive_avg_pool2d(truth, 8)
    guide = 0.2 + 0.6 * truth
    guided = guided_upsample(low, guide)
    bilinear = F.interpolate(low, size=(64, 64), mode="bilinear", align_corners=False)
    assert (guided - truth).abs().mean() < 0.5 * (bilinear - truth).abs().mean()


def _task(n, gen):
    """Images whose right tile needs a colour painted only in the left tile: the target inverse
    depth everywhere is set by that colour."""
    x = 0.5 + 0.05 * torch.randn(n, 3, 32, 64, generator=gen)
    colour = torch.rand(n, generator=gen)
    x[:, :, :, :16] = colour.view(n, 1, 1, 1)
    log_target = (colour * 2.0 - 1.0).view(n, 1, 1, 1).expand(n, 1, 32, 64)
    return x.clamp(0, 1), log_target


@pytest.fixture()
def flush_denormals():
    """Decays underflow towards 0 inside the scan; subnormal floats make CPU training ~10x slower."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.mark.slow
def test_fitted_model_tsp_closer_to_whole_image_than_without(flush_denormals, tiny_config):
    """Trained as the training issue will (whole crops alternating with tiled crops through the
    hook), the right tile with carried state recovers what only the left tile shows."""
    torch.manual_seed(5)
    net = BokehFlow(tiny_config).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(5)
    lb = LensBatch.from_lens(LENS, 0.01, batch=8)
    for step in range(100):
        x, log_target = _task(8, gen)
        out = net.network(x, lb) if step % 2 == 0 else forward_tiled(net, x, lb, (2, 1), render=False)
        loss = (torch.log(out.inv_depth) - log_target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x, log_target = _task(8, gen)
    with torch.no_grad():
        whole = torch.log(net.network(x, lb).inv_depth)
        tsp = torch.log(forward_tiled(net, x, lb, (2, 1), render=False).inv_depth)
        reset = torch.log(forward_tiled(net, x, lb, (2, 1), render=False, tsp=False).inv_depth)
    assert (whole - log_target).abs().mean() < 0.8 * log_target.abs().mean()  # it learned something
    err_tsp = (tsp - whole)[..., 32:].abs().mean()
    err_reset = (reset - whole)[..., 32:].abs().mean()
    assert err_tsp < 0.8 * err_reset
