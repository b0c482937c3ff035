"""The default highlight boost against the exact thin-lens reference: small clipped lights keep
the energy of their bokeh balls.

A photo clips a light of radiance R (here 3-30 times the clip level, log-spaced, the range of the
lights in the synthetic scenes) to 1; the renderer can only guess the hidden radiance through its
boost. The reference renders the true radiance. Calibrated so that the ball energies of such
lights match the reference's on geometric average (the choice documented in the README).
"""

import math

import numpy as np
import pytest
import torch

from bokehcli.ops.color import linear_to_srgb, srgb_to_linear
from bokehcli.optics import Lens
from bokehcli.render.accumulation import Plane, accumulation_render, pinhole_view
from bokehcli.render.layered import DEFAULT_HIGHLIGHT_GAIN, render_bokeh

pytestmark = pytest.mark.usefixtures("one_thread")

WIDTH, HEIGHT, MARGIN = 192, 128, 16
RADIANCES = (3.0, 5.5, 10.0, 17.0, 30.0)
RADII_PX = (0.8, 1.5, 2.5)
SPACING_PX = 30
WINDOW_PX = 13  # half-width of the window summed around each light (> the ball's radius + its rim)


def photographed(linear: torch.Tensor) -> torch.Tensor:
    """What a photo holds: clipped, 8-bit sRGB, back in linear light."""
    return srgb_to_linear(torch.round(linear_to_srgb(linear.clamp(0.0, 1.0)) * 255.0) / 255.0)


@pytest.fixture(scope="module")
def light_scene():
    """15 small lights (every radius x radiance) on a dim background, 10 m away, 85 mm f/1.8
    focused at 1.5 m (CoC ~13 px): the reference, the reference without lights, the photo and
    the photo without lights, and the light centres."""
    lens = Lens(85.0, 1.8, 1.5)
    hc, wc = HEIGHT + 2 * MARGIN, WIDTH + 2 * MARGIN
    yy, xx = torch.meshgrid(torch.arange(hc, dtype=torch.float32), torch.arange(wc, dtype=torch.float32),
                            indexing="ij")
    rgb, alpha, centres = torch.zeros(3, hc, wc), torch.zeros(hc, wc), []
    for i, (radiance, radius) in enumerate((r, s) for r in RADIANCES for s in RADII_PX):
        cy = MARGIN + 20 + (i // 6) * SPACING_PX + 0.3 * (i % 2)  # off the pixel grid a little
        cx = MARGIN + 16 + (i % 6) * SPACING_PX + 0.2 * (i % 3)
        cover = (0.5 + radius - torch.hypot(yy - cy, xx - cx)).clamp(0.0, 1.0)
        rgb = torch.where(cover > 0, torch.full((3, 1, 1), radiance), rgb)
        alpha = torch.maximum(alpha, cover)
        centres.append((int(round(cy)) - MARGIN, int(round(cx)) - MARGIN, radiance))
    background = Plane(torch.full((3, hc, wc), 0.05), torch.ones(hc, wc), 10.0)
    planes = [background, Plane(rgb, alpha, 9.99)]
    photo, depth = pinhole_view(planes, WIDTH, HEIGHT)
    coc = lens.coc_px(depth, WIDTH, HEIGHT)[None, None]
    return {"reference": accumulation_render(planes, lens, WIDTH, HEIGHT),
            "reference_bg": accumulation_render([background], lens, WIDTH, HEIGHT),
            "photo": photographed(photo)[None], "photo_bg": photographed(pinhole_view([background], WIDTH, HEIGHT)[0])[None],
            "coc": coc, "centres": centres}


def ball_energies(image: torch.Tensor, background: torch.Tensor, centres) -> np.ndarray:
    """Light added around each centre (mean over channels, summed over the window)."""
    excess = (image - background).mean(dim=-3)
    return np.array([float(excess[..., y - WINDOW_PX:y + WINDOW_PX + 1, x - WINDOW_PX:x + WINDOW_PX + 1].sum())
                     for y, x, _ in centres])


def energy_ratios(scene, gain: float) -> np.ndarray:
    ours = render_bokeh(scene["photo"], scene["coc"], highlight_boost=gain)
    ours_bg = render_bokeh(scene["photo_bg"], scene["coc"], highlight_boost=gain)
    # against what a camera records at the wide aperture: a ball brighter than the clip level is
    # clipped in the real photo too
    reference = ball_energies(scene["reference"].clamp(0.0, 1.0), scene["reference_bg"], scene["centres"])
    return ball_energies(ours, ours_bg, scene["centres"]) / reference


def test_the_reference_keeps_each_lights_energy(light_scene):
    """The window holds the whole ball: the reference's excess is the light's radiance x area."""
    energies = ball_energies(light_scene["reference"], light_scene["reference_bg"], light_scene["centres"])
    for (_, _, radiance), energy, radius in zip(light_scene["centres"], energies, RADII_PX * len(RADIANCES)):
        assert energy == pytest.approx(radiance * math.pi * radius ** 2, rel=0.25)


def test_default_boost_keeps_the_energy_of_small_lights_on_average(light_scene):
    ratios = energy_ratios(light_scene, DEFAULT_HIGHLIGHT_GAIN)
    assert 0.8 < math.exp(np.log(ratios).mean()) < 1.25
    # one boost for every clipped light: the brighter a light was, the more of it is lost
    by_radiance = np.exp(np.log(ratios).reshape(len(RADIANCES), len(RADII_PX)).mean(axis=1))
    assert (np.diff(by_radiance) < 0).all()
    # the previous default of 3 left the balls at about 55 % of their energy
    assert math.exp(np.log(energy_ratios(light_scene, 3.0)).mean()) < 0.75

