"""`bokeh train` on a tiny generated set: schedule, data order, loss, resume exactness, files."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.data.realbokeh import RealBokehTrain
from bokehcli.data.synth import synthesize
from bokehcli import losses
from bokehcli.errors import BokehError
from bokehcli.models.factory import create_model, load_model, read_metadata
from bokehcli.optics import pixel_pitch_mm
from bokehcli import train as tr
from bokehcli.data.sampling import PositionSampler, SampleStream
from bokehcli.train_settings import TrainSettings, resolve_settings

TINY_RUN = dict(variant="nano", batch_size=1, crop=32, log_every=1, save_every=100, val_every=100, seed=0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    synthesize(root, {"train": 3, "validation": 1, "test": 1}, 64, 48, seed=3)
    return root


def run(data, out, resume=False, stop_at=None, **settings):
    runtime = tr.Runtime(data=data, out=out, resume=resume, device="cpu", workers=0, stop_at=stop_at,
                         on_note=lambda note: None)
    return tr.train({**TINY_RUN, **settings}, runtime)


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_warmup_cosine_schedule():
    lr = [tr.warmup_cosine(i, warmup=4, total=20) for i in range(25)]
    assert lr[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lr[3:], lr[4:]))  # non-increasing after the warm-up
    assert lr[20] == pytest.approx(tr.MIN_LR_RATIO) and lr[24] == pytest.approx(tr.MIN_LR_RATIO)
    assert lr[12] == pytest.approx(tr.MIN_LR_RATIO + (1 - tr.MIN_LR_RATIO) * 0.5)  # half-way of the cosine


def test_ranks_split_every_global_batch():
    single = list(PositionSampler(start=10, n_steps=3, batch_size=4, rank=0, world=1))
    ranks = [list(PositionSampler(start=10, n_steps=3, batch_size=2, rank=r, world=2)) for r in range(2)]
    assert single == list(range(10, 22))
    for step in range(3):  # each step, rank 0 then rank 1 take the single process's batch
        assert ranks[0][2 * step:2 * step + 2] + ranks[1][2 * step:2 * step + 2] == single[4 * step:4 * step + 4]


def test_sample_stream_visits_every_scene_once_per_epoch(data):
    base = RealBokehTrain(data, "train", crop=32, seed=5)
    stream = SampleStream(base, seed=5)
    n = len(base)
    for epoch in range(3):
        order = [int(np.random.default_rng((5, epoch)).permutation(n)[i]) for i in range(n)]
        assert sorted(order) == list(range(n))
    first, again = stream[n + 1], stream[n + 1]  # a position is a pure function of (seed, position)
    assert torch.equal(first["source"], again["source"]) and torch.equal(first["target"], again["target"])


def test_lens_uses_full_frame_pixel_pitch(data):
    item = RealBokehTrain(data, "train", crop=32, seed=0)[0]
    batch = {k: v[None] for k, v in item.items()}
    lens = tr.lens_of(batch)
    assert item["source"].shape[-1] == 32 and (int(item["width_px"]), int(item["height_px"])) == (64, 48)
    assert float(lens.pixel_pitch_mm[0]) == pytest.approx(pixel_pitch_mm(float(item["sensor_diag_mm"]), 64, 48))


def test_loss_falls_on_a_fixed_batch(data):
    torch.manual_seed(0)
    base = RealBokehTrain(data, "train", crop=32, seed=1)
    batch = {k: torch.stack([base[i][k] for i in range(2)]) for k in base[0]}
    model = create_model("nano").train()
    net = tr.NetworkOnCrop(model)
    optimizer = torch.optim.AdamW(tr.param_groups(model, 0.0), lr=2e-3)
    history = []
    for step in range(8):
        tiled = step % 2 == 1
        tiles = 2 if tiled else 1
        rendered, inv_depth, aux, other = tr.render_crop(net, batch, tiles, amp=False,
                                                         other_f_number=torch.tensor([1.4, 22.0]))
        loss, parts = tr.compute_loss(rendered, batch["target"], batch["source"], inv_depth, aux, batch["depth_m"],
                                      model.config, None, other, tiles)
        assert set(parts) == {"l1", "ssim", "smooth", "depth", "aux_depth", "consistency"}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert all(math.isfinite(v) for v in history)
    assert history[-1] < 0.7 * history[0], history


def test_resume_continues_exactly(data, tmp_path):
    straight = run(data, tmp_path / "straight", steps=6)
    assert straight["step"] == 6
    first = run(data, tmp_path / "resumed", steps=6, stop_at=3)
    assert first["step"] == 3
    log_path = tmp_path / "resumed" / "log.jsonl"
    with open(log_path, "a") as fh:  # as if killed after logging past the checkpoint, mid-line
        fh.write(json.dumps({"step": 4, "loss": 0.0}) + "\n" + '{"step": 5, "lo')
    second = run(data, tmp_path / "resumed", resume=True, steps=6)
    assert second["step"] == 6

    a, b = read_log(tmp_path / "straight" / "log.jsonl"), read_log(log_path)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b):
        for key in ("loss", "l1", "ssim", "depth", "lr", "grad_norm", "tiles"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-7), (ra["step"], key)
    sa = torch.load(tmp_path / "straight" / "state.pt", weights_only=True)
    sb = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 6 and sa["data_position"] == sb["data_position"] == 6
    for key in ("model", "ema"):
        for name, tensor in sa[key].items():
            torch.testing.assert_close(sb[key][name], tensor, rtol=1e-5, atol=1e-6)

    # The weights files hold the EMA weights and the config.
    model = load_model(tmp_path / "resumed" / "last.safetensors")
    assert model.config.name == "nano" and read_metadata(tmp_path / "resumed" / "last.safetensors")["step"] == "6"
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, sb["ema"][name])
    assert (tmp_path / "resumed" / "best.safetensors").is_file()


def test_cli_resume_continues_the_schedule_or_refuses(data, tmp_path):
    runner = CliRunner()
    base = ["train", "--data", str(data), "--variant", "nano", "--batch-size", "1", "--crop", "32", "--out",
            str(tmp_path / "run"), "--device", "cpu", "--workers", "0", "--log-every", "2"]
    first = runner.invoke(app, [*base, "--steps", "5", "--stop-at", "3"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*base, "--steps", "5"])
    assert again.exit_code == 2 and "--resume" in again.output
    longer = runner.invoke(app, [*base, "--steps", "7", "--resume"])
    assert longer.exit_code == 2 and "--steps 7 differs from the resumed run's 5" in longer.stderr
    assert "Traceback" not in longer.output
    second = runner.invoke(app, [*base, "--resume", "--json"])
    assert second.exit_code == 0, second.output
    records = read_log(tmp_path / "run" / "log.jsonl")
    assert [r["step"] for r in records] == [2, 3, 4, 5]  # every 2nd step, the last of each invocation, none twice
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["step"] == 5 and state["settings"]["steps"] == 5
    # the original schedule: warm-up then cosine over 5 steps, as if never interrupted
    settings = TrainSettings(**state["settings"])
    for record in records:
        expected = settings.lr * tr.warmup_cosine(record["step"] - 1, settings.warmup, settings.steps)
        assert record["lr"] == pytest.approx(expected, rel=1e-9)


def test_cli_data_error_in_a_loader_worker_is_one_line(data, tmp_path):
    """An error raised in a DataLoader worker comes back wrapped in the worker's traceback; the
    user sees the error's own line only (the crop here is larger than the 64x48 photos)."""
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--variant", "nano", "--batch-size", "1",
                                      "--crop", "96", "--steps", "2", "--out", str(tmp_path / "run"),
                                      "--device", "cpu", "--workers", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith("64x48 is smaller than the crop 96"), result.stderr


def test_cli_wrong_data_leaves_no_run_folder(tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"),
                                      "--steps", "2", "--device", "cpu", "--workers", "0"])
    assert result.exit_code == 1 and str(tmp_path / "nope") in result.stderr
    assert not (tmp_path / "run").exists()


def test_non_finite_loss_skips_the_step(data, tmp_path, monkeypatch):
    real = tr.compute_loss
    calls = []

    def poisoned(*args, **kwargs):
        loss, parts = real(*args, **kwargs)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 2 else loss), parts

    monkeypatch.setattr(tr, "compute_loss", poisoned)
    summary = run(data, tmp_path / "run", steps=3, val_every=1000)
    assert summary["skipped_steps"] == 1
    log = read_log(tmp_path / "run" / "log.jsonl")
    assert log[1]["loss"] is None and log[1]["skipped_steps"] == 1 and log[2]["loss"] is not None
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert int(state["optimizer"]["state"][0]["step"]) == 2  # the optimiser stepped twice, not three times


def test_optimizer_sees_gradients_clipped_to_norm_1(data, tmp_path, monkeypatch):
    """Audit #4: the loss is scaled up 1000x so the raw gradient norm is far above the clip."""
    real_loss, real_step = tr.compute_loss, torch.optim.AdamW.step
    seen = []

    def scaled(*args, **kwargs):
        loss, parts = real_loss(*args, **kwargs)
        return loss * 1000.0, parts

    def spy(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(tr, "compute_loss", scaled)
    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    run(data, tmp_path / "run", steps=2, val_every=1000)
    raw = [r["grad_norm"] for r in read_log(tmp_path / "run" / "log.jsonl")]
    assert min(raw) > 10 * tr.GRAD_CLIP
    assert len(seen) == 2 and max(seen) <= tr.GRAD_CLIP * (1 + 1e-4)
    assert tr.GRAD_CLIP == 1.0


def test_norm_gains_biases_and_initial_states_get_no_weight_decay():
    model = create_model("nano")
    decayed, kept = (set(map(id, g["params"])) for g in tr.param_groups(model, 0.05))
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        exempt = p.ndim < 2 or leaf == "state_init" or "norm" in leaf
        assert (id(p) in kept) == exempt, name
    assert any("fusion.norm_weight" in n for n, p in model.named_parameters() if id(p) in kept)
    assert len(decayed) > 0


def test_settings_are_checked_and_kept_on_resume():
    with pytest.raises(BokehError, match="--crop"):
        resolve_settings({"crop": 40}, None)
    with pytest.raises(BokehError, match="--variant"):
        resolve_settings({"variant": "huge"}, None)
    settings, notes = resolve_settings({"steps": 100}, None)
    assert settings.warmup == 5
    resumed, notes = resolve_settings({"steps": 100, "lr": 1.0}, {**settings.__dict__})
    assert resumed == settings
    assert len(notes) == 1 and "--lr" in notes[0]
    with pytest.raises(BokehError, match="--steps 200 differs"):
        resolve_settings({"steps": 200}, {**settings.__dict__})
    # a run stored before --accumulate existed resumes with its default
    old = {k: v for k, v in settings.__dict__.items() if k != "accumulate"}
    assert resolve_settings({}, old)[0] == settings
    with pytest.raises(BokehError, match="--accumulate"):
        resolve_settings({"accumulate": 0}, None)


def test_truncate_log_drops_later_and_torn_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"ste')
    tr.truncate_log(path, 2)
    assert read_log(path) == [{"step": 1}, {"step": 2}]


def test_depth_consistency_ignores_the_seams_only():
    whole = torch.full((1, 1, 64, 96), 0.5)
    tiled = whole.clone()
    tiled[..., 28:36, :] = 0.9  # inside the 8-px band of the horizontal seam at y = 32
    tiled[..., :, 44:52] = 0.9  # and of the vertical seam at x = 48
    assert float(losses.depth_consistency(tiled, whole, (2, 2), 8)) == 0.0
    tiled[..., 5, 5] = 0.5 * math.e  # |log ratio| = 1 at one kept pixel
    kept = 64 * 96 - (16 * 96 + 16 * 64 - 16 * 16)
    assert float(losses.depth_consistency(tiled, whole, (2, 2), 8)) == pytest.approx(1.0 / kept, rel=1e-5)
    # the band never swallows a small tile
    assert math.isfinite(float(losses.depth_consistency(tiled[..., :16, :16], whole[..., :16, :16], (2, 2), 16)))
    # one tile (two f-numbers of the whole crop): every pixel counts
    ones = torch.zeros_like(whole).fill_(0.5)
    ones[..., 30, 46] = 0.5 * math.e
    assert float(losses.depth_consistency(ones, whole, (1, 1), 8)) == pytest.approx(1.0 / (64 * 96), rel=1e-5)


def test_every_step_ties_the_depth_at_two_f_numbers(data):
    """The depth is the scene's, not the aperture's: the crop runs again, whole, at another
    f-number, and its inverse depth is what the consistency term compares with."""
    torch.manual_seed(0)
    base = RealBokehTrain(data, "train", crop=32, seed=1)
    batch = {k: torch.stack([base[i][k] for i in range(2)]) for k in base[0]}
    model = create_model("nano").eval()
    with torch.no_grad():  # an initialised model ignores the f-number (zero-initialised modulation)
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    other_f = torch.tensor([1.4, 16.0])
    with torch.no_grad():
        _, inv_depth, _, other = tr.render_crop(tr.NetworkOnCrop(model), batch, 1, amp=False, other_f_number=other_f)
        lens = tr.lens_of(batch)
        expected = model.network(batch["source"], dataclasses.replace(lens, f_number=other_f)).inv_depth
    assert torch.allclose(other, expected) and not torch.allclose(other, inv_depth)
    _, parts = tr.compute_loss(batch["target"], batch["target"], batch["source"], inv_depth, [], None,
                               model.config, None, other, tiles=1)
    assert float(parts["consistency"]) == pytest.approx(float((inv_depth.log() - other.log()).abs().mean()), rel=1e-5)


def test_training_logs_the_consistency_on_whole_and_tiled_steps(data, tmp_path):
    run(data, tmp_path / "run", steps=6)
    records = read_log(tmp_path / "run" / "log.jsonl")
    assert {r["tiles"] for r in records} == {1, 2}  # both kinds of step ran
    assert all("consistency" in r for r in records)  # untiled steps too: the crop at another f-number


def test_accumulated_micro_batches_equal_one_larger_batch(data, tmp_path):
    """--accumulate 2 with batches of 1 takes the steps of batches of 2: the same samples and
    draws, the same loss, gradient norm and weights (up to float summation order)."""
    big = run(data, tmp_path / "big", steps=3, batch_size=2, val_every=1000)
    small = run(data, tmp_path / "small", steps=3, batch_size=1, accumulate=2, val_every=1000)
    assert big["step"] == small["step"] == 3
    a, b = read_log(tmp_path / "big" / "log.jsonl"), read_log(tmp_path / "small" / "log.jsonl")
    for ra, rb in zip(a, b):
        assert rb["tiles"] == ra["tiles"]
        for key in ("loss", "l1", "depth", "grad_norm", "lr"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-7), (ra["step"], key)
        # Convolutions pick their kernels by batch size, and SSIM divides small local variances,
        # which magnifies that summation order: 2.4e-5 relative after one step on this 2-core
        # CPU (2026-12-07), where the terms above agree to 2e-7; an accumulation that counted
        # a micro-batch twice or skipped one would be off by far more in the loss itself.
        for key in ("ssim", "consistency"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-3, abs=1e-6), (ra["step"], key)
    sa = torch.load(tmp_path / "big" / "state.pt", weights_only=True)
    sb = torch.load(tmp_path / "small" / "state.pt", weights_only=True)
    assert sa["data_position"] == sb["data_position"] == 6
    # Adam divides by sqrt(v): float differences in near-zero gradients move a weight by up to a
    # fraction of the step size (lr 3e-4), as between one process and two under DDP.
    for name, tensor in sa["model"].items():
        torch.testing.assert_close(sb["model"][name], tensor, rtol=1e-4, atol=1.5e-4)
    # ... and not the steps of batches of 1
    single = run(data, tmp_path / "single", steps=1, batch_size=1, val_every=1000)
    assert read_log(tmp_path / "single" / "log.jsonl")[0]["loss"] != pytest.approx(a[0]["loss"], rel=1e-3)
    assert single["step"] == 1


def test_best_weights_are_chosen_by_the_eval_protocol(data, tmp_path):
    """The logged val_psnr is what `bokeh eval --split validation` reports for best.safetensors;
    the crop metrics are logged beside it under their own names."""
    from bokehcli.evaluate import evaluate_split

    run(data, tmp_path / "run", steps=2, val_every=1)
    records = [r for r in read_log(tmp_path / "run" / "log.jsonl") if "val_psnr" in r]
    assert [r["step"] for r in records] == [1, 2]
    assert all({"val_ssim", "val_crop_loss", "val_crop_psnr"} <= set(r) for r in records)
    best = max(records, key=lambda r: r["val_psnr"])
    assert read_metadata(tmp_path / "run" / "best.safetensors")["step"] == str(best["step"])
    summary = evaluate_split(data, "validation", str(tmp_path / "run" / "best.safetensors"), torch.device("cpu"))[0]
    assert summary["psnr"] == pytest.approx(best["val_psnr"], abs=1e-6)
    assert summary["ssim"] == pytest.approx(best["val_ssim"], abs=1e-6)


def test_config_json_holds_every_setting(data, tmp_path):
    run(data, tmp_path / "run", steps=1, accumulate=2, val_every=1000)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert config["settings"] == state["settings"]
    assert set(config["settings"]) == {f.name for f in dataclasses.fields(TrainSettings)}
    assert config["effective_batch"] == 2 and config["settings"]["accumulate"] == 2
    assert config["invocation"]["data"] == str(data.resolve()) and config["invocation"]["device"] == "cpu"
    assert config["model"] == json.loads(load_model(tmp_path / "run" / "last.safetensors").config.to_json())
    assert config["packages"]["torch"] == torch.__version__
    assert "\n  " in (tmp_path / "run" / "config.json").read_text()  # indented: meant to be read


def test_tensorboard_scalars_follow_the_log(data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runtime = tr.Runtime(data=data, out=tmp_path / "run", device="cpu", workers=0, log="tensorboard",
                         on_note=lambda note: None)
    tr.train({**TINY_RUN, "steps": 3, "log_every": 2, "val_every": 3}, runtime)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    logged = read_log(tmp_path / "run" / "log.jsonl")
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [r["step"] for r in logged] == [2, 3]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in logged], rel=1e-6)
    assert [e.value for e in events.Scalars("val/psnr")] == pytest.approx([logged[-1]["val_psnr"]], rel=1e-6)


def test_unknown_logger_is_a_usage_error(data, tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1",
                                      "--device", "cpu", "--workers", "0", "--log", "wandb"])
    assert result.exit_code == 2 and "--log must be one of tensorboard" in result.stderr
    assert not (tmp_path / "run").exists()


def test_outside_a_terminal_each_logged_step_is_one_plain_line(data, tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--variant", "nano", "--batch-size", "1",
                                      "--crop", "32", "--steps", "4", "--log-every", "2", "--val-every", "4",
                                      "--out", str(tmp_path / "run"), "--device", "cpu", "--workers", "0"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"]
    assert "loss " in lines[0] and "samples/s" in lines[0] and "val " in lines[1] and "dB" in lines[1]
    assert "\x1b" not in result.stderr  # plain text, no terminal control codes
