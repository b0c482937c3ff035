"""BokehFlow assembly: shapes, PG-CoC against the optics module, audits #3 and #7, the in-focus
guarantee of the refinement, gradient flow into every block, parameter counts."""

import pytest
import torch

from bokehcli.models.bokehflow import BokehFlow, LensBatch, count_parameters
from bokehcli.models.config import VARIANTS
from bokehcli.ops.color import srgb_to_linear
from bokehcli.optics import Lens, pixel_pitch_mm



def _lens(batch=1, width=48, height=32, focus_m=2.0, f_number=1.8) -> tuple[Lens, LensBatch]:
    lens = Lens(focal_mm=50.0, f_number=f_number, focus_m=focus_m)
    return lens, LensBatch.from_lens(lens, pixel_pitch_mm(lens.sensor_diag_mm, width, height), batch=batch)


@pytest.fixture(scope="module")
def model(tiny_config) -> BokehFlow:
    torch.manual_seed(0)
    return BokehFlow(tiny_config).eval()


def test_forward_shapes_bounds_and_pg_coc(model):
    torch.manual_seed(1)
    x = torch.rand(2, 3, 37, 53)  # not a multiple of 8: padded inside
    lens, lb = _lens(2, 53, 37)
    with torch.no_grad():
        out = model(x, lb)
    assert out.inv_depth.shape == (2, 1, 37, 53) and out.rendered_lin.shape == (2, 3, 37, 53)
    assert out.inv_depth.min() >= 0.01 * (1 - 1e-6) and out.inv_depth.max() <= 10.0 * (1 + 1e-6)
    assert torch.allclose(out.depth_m, 1 / out.inv_depth)
    expected = lens.coc_px_from_inverse_depth(out.inv_depth, 53, 37)  # the optics module's math
    assert torch.allclose(out.coc_px, expected, rtol=1e-5, atol=1e-5)
    assert [a.shape for a in out.aux_inv_depth] == [(2, 1, 5, 7)] * model.config.stages
    assert set(out.states) == set(model.block_names())
    assert all(s.shape == (4, 2, 2, 8, 8) for s in out.states.values())


def test_train_mode_batch_of_one_and_batch_independence(model):
    """Audit #3: no BatchNorm; a sample's prediction does not depend on its batch."""
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    model.train()
    try:
        torch.manual_seed(2)
        x = torch.rand(3, 3, 32, 48)
        _, lb3 = _lens(3)
        _, lb1 = _lens(1)
        with torch.no_grad():
            one = model(x[:1], lb1, render=False)
            three = model(x, lb3, render=False)
        assert torch.allclose(one.inv_depth, three.inv_depth[:1], atol=1e-5)
    finally:
        model.eval()


def test_in_focus_plane_returns_the_input_exactly(model):
    """A constant depth at the focus distance: CoC 0, so the output is the input (the refinement
    is gated off in focus even when its head is far from zero)."""
    refine = BokehFlow(model.config).eval()
    refine.load_state_dict(model.state_dict())
    torch.nn.init.normal_(refine.refine_head.proj.weight, std=1.0)
    torch.nn.init.normal_(refine.refine_head.proj.bias, std=1.0)
    torch.manual_seed(3)
    x = torch.rand(1, 3, 32, 48)
    lens, lb = _lens(focus_m=3.0)
    inv = torch.full((1, 1, 32, 48), 1 / 3.0)
    with torch.no_grad():
        out = refine(x, lb, inv_depth=inv)
    assert out.refine_lin.abs().max() > 0.1
    assert out.coc_px.abs().max() < 1e-3
    assert torch.equal(out.inv_depth, inv)
    assert torch.allclose(out.rendered_lin, srgb_to_linear(x), atol=1e-5)
    # Out of focus the refinement does act.
    with torch.no_grad():
        blurred = refine(x, lb, inv_depth=torch.full_like(inv, 1.0))
        plain = model(x, lb, inv_depth=torch.full_like(inv, 1.0))
    assert (blurred.rendered_lin - plain.rendered_lin).abs().max() > 0.1


def test_given_depth_conditions_dahg(model):
    x = torch.rand(1, 3, 32, 48)
    _, lb = _lens()
    for block in model.bokeh_blocks:
        torch.nn.init.normal_(block.gates.coc_proj.weight)
    with torch.no_grad():
        near = model(x, lb, inv_depth=torch.full((1, 1, 32, 48), 5.0), render=False)
        far = model(x, lb, inv_depth=torch.full((1, 1, 32, 48), 0.5), render=False)
    assert not torch.allclose(near.states["bokeh.0"], far.states["bokeh.0"])
    assert torch.equal(near.states["depth.0"], far.states["depth.0"])  # only the bokeh stream uses DAHG
    for block in model.bokeh_blocks:
        torch.nn.init.zeros_(block.gates.coc_proj.weight)


def test_gradients_from_the_render_reach_every_block(tiny_config):
    torch.manual_seed(4)
    net = BokehFlow(tiny_config).train()
    x = torch.rand(1, 3, 32, 48)
    _, lb = _lens(focus_m=1.0, f_number=1.4)
    out = net(x, lb)
    out.rendered_lin.square().mean().backward()
    blocks = {**{f"depth.{i}": b for i, b in enumerate(net.depth_blocks)},
              **{f"bokeh.{i}": b for i, b in enumerate(net.bokeh_blocks)}}
    for name, block in blocks.items():
        assert block.qkv.weight.grad is not None and block.qkv.weight.grad.abs().sum() > 0, name
        assert block.state_init.grad.abs().sum() > 0, name
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_parameter_counts_of_the_variants():
    counts = {name: count_parameters(BokehFlow(cfg)) for name, cfg in VARIANTS.items()}
    assert counts["nano"] < 1_000_000
    assert counts["nano"] < counts["small"] < counts["base"]
