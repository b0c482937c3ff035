"""Weights I/O: safetensors only, config in the metadata, clear refusal of mismatches."""

import dataclasses
import json
import os
import threading

import pytest
import torch
from safetensors.torch import save_file

from bokehcli.errors import InputError
from bokehcli.files import TMP_PREFIX
from bokehcli.models.bokehflow import LensBatch
from bokehcli.models.factory import create_model, list_models, load_model, read_metadata, save_model
from bokehcli.models.inference import predict
from bokehcli.models.operating_point import OperatingPoint
from bokehcli.optics import Lens



@pytest.fixture()
def saved(tmp_path, tiny_network):
    model = tiny_network
    path = tmp_path / "tiny.safetensors"
    save_model(model, path, steps="12")
    return model, path


def test_round_trip_rebuilds_the_same_network(saved, tmp_path):
    model, path = saved
    meta = read_metadata(path)
    assert meta["format"] == "bokehflow" and meta["steps"] == "12"
    assert json.loads(meta["config"])["dim"] == 16
    loaded = load_model(path)
    assert loaded.config == model.config and not loaded.training
    x = torch.rand(1, 3, 32, 32)
    lb = LensBatch.from_lens(Lens(50.0, 2.0, 2.0), 0.01)
    with torch.no_grad():
        a, b = model(x, lb, render=False), loaded(x, lb, render=False)
    assert torch.equal(a.inv_depth, b.inv_depth)
    assert list_models(tmp_path) == ["tiny"]
    assert load_model("tiny", models_dir=tmp_path).config == model.config
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_weights_are_written_through_our_temporary_file_only(tmp_path):
    """A run killed mid-save leaves its temporary file behind, and the next run sweeps only ours
    (``TMP_PREFIX``): no other file may appear in the folder while weights are written.
    safetensors' own save_file writes through a ``.tmp`` file of its own; a watcher listing the
    folder meanwhile saw it in 20 of 20 trials of five saves each."""
    model = create_model("nano")
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            seen.update(os.listdir(tmp_path))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(5):
            save_model(model, tmp_path / "w.safetensors")
    finally:
        done.set()
        watcher.join()
    assert {name for name in seen if name != "w.safetensors" and not name.startswith(TMP_PREFIX)} == set()
    load_model(tmp_path / "w.safetensors")


def test_refuses_a_pickle(tmp_path):
    path = tmp_path / "evil.safetensors"
    torch.save({"x": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="evil.safetensors"):
        load_model(path)


def test_refuses_missing_or_mismatching_config(saved, tmp_path):
    model, _ = saved
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    no_config = tmp_path / "noconf.safetensors"
    save_file(tensors, str(no_config))
    with pytest.raises(InputError, match="no model config"):
        load_model(no_config)
    other = dataclasses.replace(model.config, dim=24)
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, str(wrong), metadata={"format": "bokehflow", "config": other.to_json()})
    with pytest.raises(InputError, match="wrong.safetensors.*shape"):
        load_model(wrong)
    bad_json = tmp_path / "badjson.safetensors"
    save_file(tensors, str(bad_json), metadata={"format": "bokehflow", "config": '{"dim": 16}'})
    with pytest.raises(InputError, match="invalid model config"):
        load_model(bad_json)
    partial = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in tensors.items() if "refine_head" not in k}, str(partial),
              metadata={"format": "bokehflow", "config": model.config.to_json()})
    with pytest.raises(InputError, match="missing"):
        load_model(partial)


def test_unknown_names(tmp_path):
    with pytest.raises(InputError, match="no such weights file"):
        load_model("does-not-exist", models_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown model variant"):
        create_model("huge")
    assert create_model("nano", blocks=2).config.blocks == 2


def test_hostile_config_is_refused_before_allocating(tmp_path):
    """A stranger's file may claim a gigantic network; shapes are checked on the meta device
    (nothing allocated) against the tensors actually present."""
    from bokehcli.models.config import BokehFlowConfig
    from bokehcli.models.factory import FORMAT

    huge = BokehFlowConfig(name="huge", dim=4096, heads=2, head_dim=32, blocks=64)  # ~40 GB of weights
    path = tmp_path / "huge.safetensors"
    save_file({"stem.weight": torch.zeros(2, 2)}, str(path), metadata={"format": FORMAT, "config": huge.to_json()})
    with pytest.raises(InputError, match="do not match"):
        load_model(path)


def test_operating_point_travels_with_the_weights(tmp_path, tiny_network):
    point = OperatingPoint(work_size_px=40, tile_px=0, tsp=False, training_data="two test scenes")
    tiny_network.operating_point = point
    path = tmp_path / "op.safetensors"
    save_model(tiny_network, path)
    assert OperatingPoint.from_json(read_metadata(path)["operating_point"]) == point
    assert load_model(path).operating_point == point
    # weights saved before operating points existed run with the defaults
    old = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_network.state_dict().items()}, str(old),
              metadata={"format": "bokehflow", "config": tiny_network.config.to_json()})
    assert load_model(old).operating_point == OperatingPoint()


def test_inference_reads_the_operating_point(tiny_network):
    """predict's defaults are the model's operating point: a model whose point says 40 px gives
    exactly what the explicit 40 px call gives, and not what the default 1024 px does."""
    srgb = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0))
    lens = Lens(50.0, 2.0, 2.0)
    explicit = predict(tiny_network, srgb, lens, work_size_px=40, tile_px=0).inv_depth
    default = predict(tiny_network, srgb, lens).inv_depth
    tiny_network.operating_point = OperatingPoint(work_size_px=40, tile_px=0)
    assert torch.equal(predict(tiny_network, srgb, lens).inv_depth, explicit)
    assert not torch.equal(explicit, default)


@pytest.mark.parametrize("text", ['{"work_size_px": -1}', '{"tile_px": 1.5}', '{"tsp": "yes"}', '{"speed": 1}', "[]"])
def test_a_malformed_operating_point_is_refused(tmp_path, tiny_network, text):
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_network.state_dict().items()}, str(path),
              metadata={"format": "bokehflow", "config": tiny_network.config.to_json(), "operating_point": text})
    with pytest.raises(InputError, match="bad.safetensors: invalid operating point"):
        load_model(path)
