"""BokehFlow with cue input channels: the cue maps, the model that corrects the cues' depth,
tiles and training with cues, and the synthetic inputs that carry them (capture aperture,
simulated AF point)."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from bokehcli.cues.depth import photo_cues
from bokehcli.cues.focus import choose_focus_target
from bokehcli.cues.image import cue_image
from bokehcli.cues.maps import CUE_CHANNELS, cue_maps, focus_heat_map
from bokehcli.data.realbokeh import RealBokehTrain, list_pairs
from bokehcli.data.source_cues import source_cue_maps
from bokehcli.data.synth import simulated_af_area, synthesize
from bokehcli.imageio import load_photo
from bokehcli.lens import read_lens
from bokehcli.models import bokehflow
from bokehcli.models.bokehflow import BokehFlow, LensBatch
from bokehcli.models.config import CUE_MAP_COUNT, VARIANTS, BokehFlowConfig
from bokehcli.models.factory import load_model, save_model, with_cue_inputs
from bokehcli.models.inference import forward_tiled, predict
from bokehcli.models.operating_point import CUE_CONVENTIONS
from bokehcli.optics import Lens, pixel_pitch_mm
from bokehcli import train as tr

pytestmark = pytest.mark.usefixtures("one_thread")


def _lens_batch(width, height, focus_m=2.0, batch=1):
    lens = Lens(focal_mm=50.0, f_number=1.8, focus_m=focus_m)
    return lens, LensBatch.from_lens(lens, pixel_pitch_mm(lens.sensor_diag_mm, width, height), batch=batch)


def _cue_model(config, seed=0):
    """The tiny network of the suite grown to take cue maps."""
    torch.manual_seed(seed)
    return with_cue_inputs(BokehFlow(config), "tiny-cues").eval()


def test_channel_tables_agree():
    assert len(CUE_CHANNELS) == CUE_MAP_COUNT == VARIANTS["nano-cues"].cue_channels
    assert CUE_CHANNELS.index("relative_inv_depth") == bokehflow.RELATIVE_INV_DEPTH_CHANNEL


def test_weights_saved_before_cue_channels_still_load(tiny_config):
    stored = json.loads(tiny_config.to_json())
    del stored["cue_channels"]
    assert BokehFlowConfig.from_json(json.dumps(stored)) == tiny_config
    with pytest.raises(ValueError, match="missing"):
        BokehFlowConfig.from_json(json.dumps({k: v for k, v in stored.items() if k != "dim"}))


def test_a_grown_model_starts_as_the_cue_depth_and_keeps_its_features(tiny_network, tiny_config):
    photo_only = tiny_network
    model = with_cue_inputs(photo_only, "tiny-cues").eval()
    _, lens = _lens_batch(40, 24, focus_m=2.5)
    srgb, cues = torch.rand(1, 3, 24, 40), torch.rand(1, CUE_MAP_COUNT, 24, 40)
    with torch.no_grad():
        out = model.network(srgb, lens, cues=cues)
        # the closed form: inverse depth = relative inverse depth / focus distance
        expected = (cues[:, 5:6] / 2.5).clamp(1 / tiny_config.max_depth_m, 1 / tiny_config.min_depth_m)
        torch.testing.assert_close(out.inv_depth, expected, rtol=2e-3, atol=1e-6)
        for coarse in out.aux_inv_depth:
            pooled = torch.nn.functional.avg_pool2d(expected, 8)
            assert coarse.shape == pooled.shape
        # the cue channels start with zero weight: the stem sees the photo as before
        before, after = photo_only.stem(srgb), model.stem(srgb, cues)
        torch.testing.assert_close(after[1], before[1])
    # a different cue depth gives a different depth: the channel is really read
    with torch.no_grad():
        other = cues.clone()
        other[:, 5] = 0.5
        assert not torch.allclose(model.network(srgb, lens, cues=other).inv_depth, out.inv_depth)


def test_a_cue_model_refuses_to_run_without_its_maps(tiny_config):
    model = _cue_model(tiny_config)
    _, lens = _lens_batch(16, 16)
    with pytest.raises(ValueError, match="cue maps"):
        model.network(torch.rand(1, 3, 16, 16), lens)
    with pytest.raises(ValueError):
        with_cue_inputs(model, "twice")


def test_cue_weights_round_trip(tmp_path, tiny_config):
    model = _cue_model(tiny_config)
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.config.cue_channels == CUE_MAP_COUNT
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_tiles_cut_the_cue_maps_with_the_photo(tiny_config):
    model = _cue_model(tiny_config, 1)
    for p in model.parameters():  # a trained-looking model: the correction is not zero
        p.data += 0.01 * torch.randn_like(p)
    _, lens = _lens_batch(64, 32)
    srgb, cues = torch.rand(1, 3, 32, 64), torch.rand(1, CUE_MAP_COUNT, 32, 64)
    with torch.no_grad():
        whole = model.network(srgb, lens, cues=cues).inv_depth
        one = forward_tiled(model, srgb, lens, (1, 1), render=False, cues=cues).inv_depth
        tiled = forward_tiled(model, srgb, lens, (2, 1), render=False, cues=cues).inv_depth
        # the right tile alone, with the right half of the maps, is what the tiled run gives there
        # (without carried state)
        untiled = forward_tiled(model, srgb, lens, (2, 1), render=False, tsp=False, cues=cues).inv_depth
        right = model.network(srgb[..., 32:], lens, cues=cues[..., 32:]).inv_depth
    torch.testing.assert_close(one, whole)
    torch.testing.assert_close(untiled[..., 32:], right)
    assert tiled.shape == whole.shape
    lens_photo = Lens(focal_mm=50.0, f_number=1.8, focus_m=2.0)
    prediction = predict(model, srgb[0], lens_photo, work_size_px=0, tile_px=0, cue_maps=cues[0])
    torch.testing.assert_close(prediction.inv_depth, whole, rtol=1e-4, atol=1e-6)
    half = predict(model, srgb[0], lens_photo, work_size_px=32, tile_px=0, cue_maps=cues[0])
    assert half.work_hw == (16, 32) and half.inv_depth.shape == whole.shape
    # maps made at the working size are the same input as maps resized to it
    small = torch.nn.functional.interpolate(cues, size=(16, 32), mode="bilinear", antialias=True,
                                            align_corners=False)[0]
    torch.testing.assert_close(predict(model, srgb[0], lens_photo, work_size_px=32, tile_px=0,
                                       cue_maps=small).inv_depth, half.inv_depth)


def test_focus_heat_map_peaks_at_the_target():
    heat = focus_heat_map((40, 60), (20, 10, 30, 20))
    assert np.unravel_index(np.argmax(heat), heat.shape) in {(14, 24), (14, 25), (15, 24), (15, 25)}
    assert heat.max() > 0.99 and heat[0, -1] < 0.05


def test_cue_maps_of_a_photo():
    rng = np.random.default_rng(0)
    rgb = np.full((120, 160, 3), 0.3, np.float32) + 0.05 * rng.random((120, 160, 3), dtype=np.float32)
    rgb[40:90, 60:110] = [0.8, 0.2, 0.2]     # a red card in the middle
    image = cue_image(rgb)
    cues = photo_cues(image, choose_focus_target(image, focus_at_px=(85, 65)), [], None)
    maps = cue_maps(cues, (240, 320))
    assert maps.shape == (CUE_MAP_COUNT, 240, 320) and maps.dtype == np.float32
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    matte = maps[CUE_CHANNELS.index("matte")]
    assert matte[130, 170] > 0.9 and matte[10, 10] < 0.1        # the card is the subject
    depth = maps[CUE_CHANNELS.index("relative_inv_depth")]
    assert depth[130, 170] == pytest.approx(1.0, abs=0.02)        # on the focus plane
    assert depth[10, 10] < 0.5                                    # the background is behind it


def test_simulated_af_point_lies_on_the_focused_object():
    depth = np.full((60, 90), 8.0, np.float32)
    depth[10:50, 50:80] = 2.0      # the focused card
    depth[5:15, 5:15] = 2.01       # a small patch at nearly the same distance
    cx, cy, w, h = simulated_af_area(depth, 2.0)
    assert 50 <= cx < 80 and 10 <= cy < 50 and w == h >= 2
    assert simulated_af_area(depth, 4.0) is None     # nothing at 4 m


def test_simulated_af_point_on_a_focused_backdrop_stays_off_the_frames_edge():
    """The frame's edge bounds the focused patch too: a backdrop's innermost pixel is not the
    corner farthest from the card in front of it (no camera has an AF point there)."""
    depth = np.full((60, 90), 4.0, np.float32)     # the focused backdrop
    depth[20:45, 35:70] = 1.5                      # a card in front of it
    cx, cy, _, _ = simulated_af_area(depth, 4.0)
    assert depth[cy, cx] == 4.0
    assert min(cx, 89 - cx, cy, 59 - cy) >= 8


@pytest.fixture(scope="module")
def capture_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("capture")
    synthesize(root, {"train": 2, "validation": 1}, 96, 64, seed=5, source_f_number=4.0)
    return root


def test_synthetic_sources_carry_the_capture_aperture_and_the_af_point(capture_set):
    pairs = list_pairs(capture_set, "train")
    assert all(p.source_f_number == 4.0 and p.source_path.name.endswith("_f4.0.JPG") for p in pairs)
    info = read_lens(pairs[0].source_path)
    assert info.f_number == 4.0 and info.focus_area is not None
    # the AF area lies where the true depth is the focus distance
    depth = np.load(pairs[0].depth_path)
    x0, y0, x1, y1 = (int(round(v)) for v in info.focus_area)
    centre = depth[(y0 + y1) // 2, (x0 + x1) // 2]
    assert abs(pairs[0].focus_m / centre - 1) < 0.05
    with pytest.raises(Exception, match="--source-f 4"):
        synthesize(capture_set, {"train": 1}, 96, 64, seed=5)     # a set made otherwise is not mixed in


def test_training_samples_carry_cue_maps_cropped_with_the_photo(capture_set):
    plain = RealBokehTrain(capture_set, "train", crop=32, seed=1)[0]
    with_cues = RealBokehTrain(capture_set, "train", crop=32, seed=1, cues=True)[0]
    assert torch.equal(plain["source"], with_cues["source"])
    assert with_cues["cues"].shape == (CUE_MAP_COUNT, 32, 32)
    whole = RealBokehTrain(capture_set, "train", crop=None, seed=1, cues=True)[0]   # scene 0, maybe flipped
    pair = list_pairs(capture_set, "train")[0]
    source = torch.from_numpy(load_photo(pair.source_path).srgb).permute(2, 0, 1)
    flipped = not torch.equal(whole["source"], source)
    maps = source_cue_maps(pair.source_path, (64, 96))
    expected = torch.from_numpy(np.ascontiguousarray(maps[:, :, ::-1] if flipped else maps))
    torch.testing.assert_close(whole["cues"], expected)


def test_train_grows_cue_inputs_from_photo_only_weights(capture_set, tmp_path):
    torch.manual_seed(0)
    init = tmp_path / "photo_only.safetensors"
    save_model(BokehFlow(dataclasses.replace(VARIANTS["nano"])), init)
    runtime = tr.Runtime(data=capture_set, out=tmp_path / "run", resume=False, device="cpu", workers=0,
                         stop_at=None, on_note=lambda note: None)
    summary = tr.train(dict(variant="nano-cues", init=str(init), steps=1, batch_size=1, crop=32, log_every=1,
                            save_every=100, val_every=100, seed=0), runtime)
    assert summary is not None
    model = load_model(tmp_path / "run" / "last.safetensors")
    assert model.config.name == "nano-cues" and model.config.cue_channels == CUE_MAP_COUNT
    assert model.operating_point.conventions == CUE_CONVENTIONS     # the file says what its extra inputs are


def test_render_with_a_cue_model_starts_from_the_cue_depth(capture_set, tmp_path, tiny_config):
    """A cue model whose correction is 0 renders the photo's own cue depth (`--depth-source cues`)."""
    from typer.testing import CliRunner

    from bokehcli.cli.app import app

    weights = tmp_path / "cues.safetensors"
    save_model(_cue_model(tiny_config), weights)
    photo = list_pairs(capture_set, "train")[0].source_path
    depths, sources = {}, {}
    for name, options in {"model": ["--model", str(weights)], "cues": ["--depth-source", "cues"]}.items():
        out = tmp_path / name
        result = CliRunner().invoke(app, ["render", str(photo), "--f", "2", "--out", str(out), "--save-depth",
                                          "--json", *options])
        assert result.exit_code == 0, result.output
        sources[name] = result.stdout
        depths[name] = np.load(out / f"{photo.stem}_depth.npy")
    assert '"depth_source": "model: cues"' in sources["model"]
    assert '"depth_source": "photo cues"' in sources["cues"]
    ratio = depths["model"] / depths["cues"]
    # the same depth up to the network's bounds and the two upsamplings (guided vs bilinear + guided)
    assert np.median(np.abs(np.log(ratio))) < 0.1
