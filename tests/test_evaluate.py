"""Metrics against independent references, and `bokeh eval` numbers against a direct computation."""

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import correlate2d
from typer.testing import CliRunner

import bokehcli
from bokehcli import losses
from bokehcli.cli.app import app
from bokehcli.data.realbokeh import format_fstop, list_pairs
from bokehcli.data.synth import synthesize
from bokehcli.errors import InputError
from bokehcli.evaluate import evaluate_split, grid_indices
from bokehcli.models.factory import create_model, save_model
from bokehcli.models.inference import predict, render_prediction
from bokehcli.ops.color import linear_to_srgb

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    synthesize(root, {"test": 2}, 64, 48, seed=7)
    return root


# --- independent references -------------------------------------------------------------------

def torchmetrics_ssim_reference(pred: np.ndarray, target: np.ndarray) -> float:
    """torchmetrics' (1.9) SSIM steps, in numpy: reflect-pad by 5, 11x11 Gaussian (sigma 1.5) built
    as the outer product of two normalised 1-D Gaussians, correlate, mean of the whole map. (C, H, W)."""
    sigma, size, pad = 1.5, 11, 5
    dist = np.arange((1 - size) / 2, (1 + size) / 2, 1.0)
    g = np.exp(-((dist / sigma) ** 2) / 2)
    g = (g / g.sum())[None]
    kernel = g.T @ g
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    maps = []
    for p, t in zip(pred, target):
        p, t = np.pad(p, pad, mode="reflect"), np.pad(t, pad, mode="reflect")
        filt = [correlate2d(x, kernel, mode="valid") for x in (p, t, p * p, t * t, p * t)]
        mu_p, mu_t = filt[0], filt[1]
        var_p = np.maximum(filt[2] - mu_p ** 2, 0.0)
        var_t = np.maximum(filt[3] - mu_t ** 2, 0.0)
        cov = filt[4] - mu_p * mu_t
        full = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_t ** 2 + c1) * (var_p + var_t + c2))
        maps.append(full)
    return float(np.mean(maps))


def psnr_reference(pred: np.ndarray, target: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((pred - target) ** 2)))


def decode(path) -> np.ndarray:
    """(3, H, W) float64 in [0, 1], decoded by PIL alone."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255.0


# --- metrics ----------------------------------------------------------------------------------

def test_ssim_matches_torchmetrics_definition():
    rng = np.random.default_rng(0)
    target = rng.random((3, 40, 52))
    for pred in (np.clip(target + 0.1 * rng.standard_normal(target.shape), 0, 1), rng.random((3, 40, 52))):
        ours = losses.ssim(torch.from_numpy(pred)[None], torch.from_numpy(target)[None])
        assert float(ours[0]) == pytest.approx(torchmetrics_ssim_reference(pred, target), abs=1e-12)
    x = torch.from_numpy(target)[None]
    assert float(losses.ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-12)
    assert losses.gaussian_window().shape == (11, 11) and float(losses.gaussian_window().sum()) == pytest.approx(1)
    with pytest.raises(ValueError):
        losses.ssim(x[..., :5, :], x[..., :5, :])      # reflection needs more rows than the 5-px pad


def test_psnr_per_image():
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 3, 16, 20)), rng.random((2, 3, 16, 20))
    ours = losses.psnr(torch.from_numpy(a), torch.from_numpy(b))
    assert ours.tolist() == pytest.approx([psnr_reference(a[i], b[i]) for i in range(2)], abs=1e-10)
    assert float(losses.psnr(torch.from_numpy(a), torch.from_numpy(a))[0]) == 100.0


def test_edge_aware_smoothness_tolerates_depth_edges_at_image_edges():
    image = torch.zeros(1, 3, 16, 16)
    image[..., 8:] = 1.0
    step = torch.ones(1, 1, 16, 16)
    step[..., 8:] = 2.0
    assert float(losses.edge_aware_smoothness(torch.ones(1, 1, 16, 16), image)) == 0.0
    at_edge = losses.edge_aware_smoothness(step, image)
    in_flat = losses.edge_aware_smoothness(step, torch.zeros_like(image))
    assert 0 < float(at_edge) < 0.5 * float(in_flat)


def test_depth_loss_is_zero_for_true_depth_and_pools_for_coarse_maps():
    depth = torch.full((1, 1, 16, 16), 2.0)
    depth[..., :8] = 4.0
    assert float(losses.log_inverse_depth_l1(1 / depth, depth, 0.1, 100.0)) == pytest.approx(0, abs=1e-7)
    coarse = torch.tensor([[[[0.25, 0.5], [0.25, 0.5]]]])  # inverse depth averaged over 8x8 blocks
    assert float(losses.log_inverse_depth_l1(coarse, depth, 0.1, 100.0)) == pytest.approx(0, abs=1e-7)
    far = torch.full((1, 1, 4, 4), float("inf"))
    assert float(losses.log_inverse_depth_l1(torch.full((1, 1, 4, 4), 0.01), far, 0.1, 100.0)) == pytest.approx(0)


def test_quantize_8bit():
    x = torch.tensor([-0.1, 0.0, 0.5, 0.999, 1.2])
    assert (losses.quantize_8bit(x) * 255).tolist() == [0, 0, 128, 255, 255]


def test_lpips_is_reported_unavailable_without_local_weights():
    net, note = losses.load_lpips()
    assert (net is None) == (note is not None)


# --- bokeh eval -------------------------------------------------------------------------------

def test_identity_numbers_equal_a_direct_computation(data):
    summary, scores, rows = evaluate_split(data, "test", "identity", CPU)
    pairs = list_pairs(data, "test")
    assert summary["n_pairs"] == len(scores) == len(pairs)
    psnrs, ssims = [], []
    for pair, score in zip(pairs, scores):
        src, tgt = decode(pair.source_path), decode(pair.target_path)
        with np.errstate(divide="ignore"):
            psnrs.append(min(psnr_reference(src, tgt), 100.0))  # identical images: the 100 dB cap
        ssims.append(torchmetrics_ssim_reference(src, tgt))
        assert (score.psnr, score.ssim) == pytest.approx((psnrs[-1], ssims[-1]), abs=1e-9)
    assert summary["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-9)
    assert summary["ssim"] == pytest.approx(np.mean(ssims), abs=1e-9)
    assert sum(row["n_pairs"] for row in summary["per_fstop"].values()) == len(pairs)
    for key, row in summary["per_fstop"].items():
        group = [i for i, p in enumerate(pairs) if format_fstop(p.f_number) == key]
        assert row["psnr"] == pytest.approx(np.mean([psnrs[i] for i in group]), abs=1e-9)
    assert [r[0].index for r in rows] == grid_indices(len(pairs))


def test_model_numbers_equal_a_direct_computation(data, tmp_path):
    torch.manual_seed(0)
    model = create_model("nano").eval()
    with torch.no_grad():  # a refinement that is not zero, so the whole model path matters
        for p in model.refine_head.parameters():
            p.normal_(std=0.05)
    save_model(model, tmp_path / "m.safetensors")
    summary, scores, _ = evaluate_split(data, "test", str(tmp_path / "m.safetensors"), CPU, limit=2, tile_px=32)
    assert summary["n_pairs"] == 2 and summary["seconds_per_mp"] > 0
    for pair, score in zip(list_pairs(data, "test")[:2], scores):
        src = torch.from_numpy(decode(pair.source_path)).float()
        lens = pair.lens
        with torch.inference_mode():
            out = linear_to_srgb(render_prediction(src, predict(model, src, lens, work_size_px=0, tile_px=32), lens))[0]
        out = (torch.round(out.clamp(0, 1) * 255) / 255).double().numpy()
        # identical 8-bit images (a near-sharp target): the 100 dB cap
        assert score.psnr == pytest.approx(min(psnr_reference(out, decode(pair.target_path)), 100.0), abs=1e-6)
        assert score.ssim == pytest.approx(torchmetrics_ssim_reference(out, decode(pair.target_path)), abs=1e-6)


def test_physics_with_true_depth_beats_identity_at_wide_apertures(data):
    floor = evaluate_split(data, "test", "identity", CPU)[1]
    ceiling = evaluate_split(data, "test", "physics-gt", CPU)[1]
    wide = [i for i, s in enumerate(floor) if s.f_number <= 2.8]
    assert wide and np.mean([ceiling[i].psnr for i in wide]) > np.mean([floor[i].psnr for i in wide]) + 1.0


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """More scenes, so that narrow apertures (f/8 - f/20) are among the targets."""
    root = tmp_path_factory.mktemp("varied")
    synthesize(root, {"test": 8}, 96, 64, seed=1)
    return root


def test_physics_with_true_depth_is_no_worse_than_identity_at_any_fstop(varied):
    """Near-sharp targets differ from the f/22 source by little or nothing (identity often scores
    the 100 dB cap): the renderer must return what is (nearly) sharp unchanged rather than blur
    it again, or the ceiling falls below the floor."""
    floor = evaluate_split(varied, "test", "identity", CPU)[0]["per_fstop"]
    ceiling = evaluate_split(varied, "test", "physics-gt", CPU)[0]["per_fstop"]
    assert any(float(f) >= 8 for f in floor)
    for fstop, row in floor.items():
        assert ceiling[fstop]["psnr"] >= row["psnr"] - 0.5, (fstop, ceiling[fstop]["psnr"], row["psnr"])


def test_binary_protocol_scores_the_first_target_of_each_scene(varied):
    summary, scores, _ = evaluate_split(varied, "test", "identity", CPU, protocol="binary")
    metas = [json.loads(p.read_text()) for p in sorted((varied / "test" / "metadata").glob("*.json"),
                                                       key=lambda p: int(p.stem))]
    assert [s.id for s in scores] == [str(m["id"]) for m in metas]
    assert [s.f_number for s in scores] == [m["target_avs"][0] for m in metas]
    assert [s.target.rsplit("/", 1)[-1] for s in scores] == [m["target_images"][0].rsplit("/", 1)[-1] for m in metas]
    assert summary["protocol"]["name"] == "binary" and summary["n_pairs"] == len(metas)


def test_physics_gt_needs_depth(data, tmp_path):
    copy = tmp_path / "set"
    shutil.copytree(data, copy)
    shutil.rmtree(copy / "test" / "depth")
    with pytest.raises(InputError, match="physics-gt needs depth"):
        evaluate_split(copy, "test", "physics-gt", CPU)


def test_cli_writes_the_report(data, tmp_path):
    result = CliRunner().invoke(app, ["eval", "--data", str(data), "--split", "test", "--model", "identity",
                                      "--out", str(tmp_path / "rep"), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert {"psnr", "ssim", "lpips", "n_pairs", "per_fstop", "seconds_per_mp"} <= set(metrics)
    keys = list(metrics)
    assert keys.index("per_fstop") < keys.index("psnr")  # per f-stop first: the plain mean mixes them
    # What was scored and what scored it.
    assert metrics["protocol"]["name"] == "all-pairs" and metrics["data"] == str(data.resolve())
    assert metrics["model_config"]["baseline"] == "identity"
    assert metrics["packages"]["torch"] == torch.__version__ and metrics["packages"]["numpy"] == np.__version__
    repo = Path(bokehcli.__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # run from a checkout
        assert metrics["code"]["commit"] == head.stdout.strip()
    table = CliRunner().invoke(app, ["eval", "--data", str(data), "--model", "identity", "--device", "cpu",
                                     "--binary"])
    assert table.exit_code == 0, table.output
    rows = [line for line in table.stdout.splitlines() if "f/" in line or "all pairs" in line]
    assert "binary" in table.stdout and rows[-1].split()[1:3] == ["all", "pairs"]
    n = len(list_pairs(data, "test"))
    assert metrics["n_pairs"] == n
    if metrics["lpips"] is None:
        assert "LPIPS unavailable" in metrics["lpips_note"]
    with open(tmp_path / "rep" / "per_image.csv") as fh:
        assert len(list(csv.DictReader(fh))) == n
    grid = Image.open(tmp_path / "rep" / "grid.png")
    assert grid.width > 3 * 192 and grid.height >= len(grid_indices(n)) * 192

    missing = CliRunner().invoke(app, ["eval", "--data", str(data), "--model", str(tmp_path / "nope.safetensors"),
                                       "--device", "cpu"])
    assert missing.exit_code == 1 and "no such weights file" in missing.output
    unknown = CliRunner().invoke(app, ["eval", "--data", str(data), "--model", "identity", "--split", "Test"])
    assert unknown.exit_code == 2 and "--split must be one of train, validation, test" in unknown.stderr


def test_inverse_depth_absrel():
    from bokehcli.evaluate import inverse_depth_absrel

    depth = torch.tensor([[2.0, 4.0], [float("inf"), 0.0]])
    estimate = torch.tensor([[0.55, 0.25], [0.3, 7.0]])  # 10 % and 0 % off where depth is known
    assert inverse_depth_absrel(estimate, depth) == pytest.approx(0.05)
