"""Training of BokehFlow on a RealBokeh-layout set (``bokeh train``), one file read top to bottom.

Per step, each sample is a random crop of one (f/22 source, target) pair with its lens:

    network (optionally as 2x2 tiles with carried TSP states, ``TILED_FRACTION`` of the steps)
      -> inverse depth, refinement -> PG-CoC with the FULL-frame pixel pitch -> thin-lens render
    every step also runs the whole crop at another f-number (log-uniform in OTHER_F_RANGE), and
    CONSISTENCY_WEIGHT * |log inverse depth - that run's| ties the two: on tiled steps it teaches
    the carried state to stand in for the context a tile cannot see; on all steps it keeps the
    depth a property of the scene, not of the aperture rendered (the bokeh stream that sees the
    f-number feeds the depth stream through the cross-fusion)
    loss = L1 + (1 - SSIM) on the rendered sRGB
         + LPIPS_WEIGHT * LPIPS            (only when its weights are available locally)
         + SMOOTH_WEIGHT * edge-aware smoothness of inverse depth
         + DEPTH_WEIGHT * |log inverse depth error| (+ AUX_DEPTH_WEIGHT per coarse stage)
                                          (only when the set has <split>/depth/<id>.npy)

Optimisation: AdamW (no weight decay on biases, norms and initial states), linear warm-up then
cosine decay to ``MIN_LR_RATIO`` of the peak over ``--steps``, gradient-norm clipping at 1.0
(so that one bad batch cannot throw the weights far off), an EMA of the weights, bf16 autocast of
the network on CUDA (the renderer stays fp32). A non-finite loss or gradient norm skips the
optimiser step and is counted. With ``--accumulate K`` an optimiser step sums the gradients of K
micro-batches of ``--batch-size``, each loss divided by K: every loss term is a plain mean over
equally sized crops, so this is the step of one K times larger batch (same samples, same
draws), in the memory of one micro-batch.

Model selection: ``best.safetensors`` is the EMA model with the best mean PSNR on the validation
split under ``bokeh eval``'s own protocol (every pair, full resolution, tiled inference,
8-bit output; :mod:`bokehcli.evaluate`), so ``bokeh eval --split validation`` on it reproduces
the logged ``val_psnr``. The loss and PSNR on fixed validation crops are logged beside it as a
cheap extra (``val_crop_loss``, ``val_crop_psnr``).

Files in the run folder, all written atomically (temporary file + rename):

    config.json        every setting of the run, the model's config, the code and package versions
                       (human-readable; rewritten by each invocation)
    last.safetensors   EMA weights at the last checkpoint (config in the metadata)
    best.safetensors   EMA weights with the best validation PSNR so far
    state.pt           everything to resume: weights, EMA, optimiser, scheduler, step, data
                       position, RNG states; tensors and plain containers only, so it loads with
                       ``torch.load(weights_only=True)``
    log.jsonl          one JSON object per logged step (appended; on resume, lines after the
                       checkpoint's step are dropped, so no step appears twice)
    tensorboard/       the same scalars for TensorBoard, with ``--log tensorboard``

Data order is a pure function of the run's seed and a sample *position* that counts every sample
drawn: position ``p`` is item ``perm_e[p mod N]`` of epoch ``e = p // N`` (a fresh permutation per
epoch), and the crop/target/flip of that item come from the data set's ``(seed, e, item)`` RNG. The
next position is stored in ``state.pt``, so ``--resume`` continues the exact sample stream (and,
since the stored settings win, the exact schedule: a different ``--steps`` is refused). Under
``torchrun`` every rank takes its own slice of each global batch (the role of a
DistributedSampler, but resumable mid-epoch), gradients are averaged by DDP and rank 0 writes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import importlib.util
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from . import losses
from .data.realbokeh import RealBokehTrain, list_pairs
from .errors import BokehError, InputError, OutputError
from .distributed import Dist, pick_device, process_group
from .evaluate import DEFAULT_TILE_PX, model_method, score_pairs, summarize
from .files import atomic_path, atomic_write_bytes, remove_stale_temp_files
from .models.bokehflow import BokehFlow, LensBatch, NetworkOutput, finish
from .models.config import VARIANTS, BokehFlowConfig
from .models.factory import create_model, load_model, save_model, with_cue_inputs
from .models.tiling import forward_tiled
from .ops.color import linear_to_srgb
from .provenance import provenance
from .stop import ignore_stop_signals, signals_deferred

# Loss weights (L1 and 1 - SSIM have weight 1).
LPIPS_WEIGHT = 0.1
SMOOTH_WEIGHT = 1e-3
DEPTH_WEIGHT = 0.1
AUX_DEPTH_WEIGHT = 0.05
TILED_FRACTION = 0.5  # share of steps whose crops run as 2x2 tiles with carried states
TILES_XY = (2, 2)
CONSISTENCY_WEIGHT = 1.0
TSP_SEAM_MARGIN_PX = 16
OTHER_F_RANGE = (1.4, 22.0)
GRAD_CLIP = 1.0
MIN_LR_RATIO = 0.1
BETAS = (0.9, 0.99)
STATE_FORMAT = "bokeh-train-state-v1"
SELECTION = "eval-full-image"  # how best.safetensors is chosen (stored: older runs chose on crops)
CROP_MULTIPLE = 16  # 2x2 tiles of multiples of 8 px (the token stride)
MIN_CROP = 32
LOGGERS = ("tensorboard",)


# --- settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of a run. Stored in ``state.pt``; on ``--resume`` the stored ones win (a
    different ``steps`` is refused: it would change the schedule already followed)."""

    variant: str = "nano"
    steps: int = 1000
    batch_size: int = 8
    accumulate: int = 1  # micro-batches per optimiser step
    crop: int = 256
    lr: float = 3e-4
    warmup: int | None = None  # None: 5 % of steps, at most 1000, fixed when the run starts
    weight_decay: float = 0.05
    ema: float = 0.999
    val_every: int = 250
    save_every: int = 250
    log_every: int = 10
    seed: int = 0
    init: str | None = None

    def check(self) -> None:
        """Raises BokehError (a usage problem) for values that cannot work."""
        if self.variant not in VARIANTS:
            raise BokehError(f"--variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        for name in ("steps", "batch_size", "accumulate", "val_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise BokehError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.crop < MIN_CROP or self.crop % CROP_MULTIPLE:
            raise BokehError(f"--crop must be a multiple of {CROP_MULTIPLE} px, at least {MIN_CROP}, got {self.crop}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BokehError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.ema < 1.0:
            raise BokehError(f"EMA decay must be in [0, 1), got {self.ema}")
        if self.warmup is not None and self.warmup < 0:
            raise BokehError(f"warm-up must be >= 0 steps, got {self.warmup}")


def resolve_settings(given: dict[str, Any], saved: dict[str, Any] | None) -> tuple[TrainSettings, list[str]]:
    """Settings of this invocation from the explicitly given values and, on resume, the stored
    ones; returns notes on given values that a resumed run ignores. A resumed run continues its
    schedule exactly, so a different ``steps`` raises BokehError instead."""
    notes = []
    if saved is None:
        settings = TrainSettings(**given)
    else:
        if "steps" in given and given["steps"] != saved["steps"]:
            raise BokehError(f"--steps {given['steps']} differs from the resumed run's {saved['steps']}: its "
                             "learning-rate schedule is fixed when it starts; use --stop-at to end earlier, or start "
                             "a new run with --init <run>/last.safetensors to train longer")
        settings = TrainSettings(**saved)  # a field added since the run started keeps its default
        for key, value in given.items():
            if getattr(settings, key) != value:
                notes.append(f"--{key.replace('_', '-')} {value} ignored: the resumed run uses {getattr(settings, key)}")
    if settings.warmup is None:
        settings = dataclasses.replace(settings, warmup=min(1000, settings.steps // 20))
    settings.check()
    return settings, notes


# --- schedule ---------------------------------------------------------------------------------

def warmup_cosine(index: int, warmup: int, total: int, min_ratio: float = MIN_LR_RATIO) -> float:
    """LR factor of optimiser step ``index`` (0-based): linear warm-up over ``warmup`` steps, then
    cosine from 1 to ``min_ratio`` at step ``total``, flat after."""
    if index < warmup:
        return (index + 1) / warmup
    progress = min(1.0, (index - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# --- data -------------------------------------------------------------------------------------

class SampleStream(Dataset):
    """Item ``p`` = sample position ``p`` of an endless stream over ``base`` (module docstring)."""

    def __init__(self, base: RealBokehTrain, seed: int) -> None:
        self.base, self.seed = base, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        epoch, offset = divmod(position, len(self.base))
        item = np.random.default_rng((self.seed, epoch)).permutation(len(self.base))[offset]
        self.base.set_epoch(epoch)  # the base draws crop/target/flip from (seed, epoch, item)
        return self.base[int(item)]


class PositionSampler(Sampler[int]):
    """Positions of this rank for ``n_steps`` steps from ``start``: step ``s`` covers positions
    ``start + s * B * world ...``, and rank ``r`` takes the ``B`` of them at offset ``r * B``."""

    def __init__(self, start: int, n_steps: int, batch_size: int, rank: int, world: int) -> None:
        self.start, self.n_steps, self.batch, self.rank, self.world = start, n_steps, batch_size, rank, world

    def __len__(self) -> int:
        return self.n_steps * self.batch

    def __iter__(self) -> Iterator[int]:
        global_batch = self.batch * self.world
        for step in range(self.n_steps):
            first = self.start + step * global_batch + self.rank * self.batch
            yield from range(first, first + self.batch)


def lens_of(batch: dict[str, torch.Tensor]) -> LensBatch:
    """Per-sample lens; the pixel pitch is that of the FULL frame (crop CoC in px = photo CoC)."""
    pitch = batch["sensor_diag_mm"] / torch.hypot(batch["width_px"].float(), batch["height_px"].float())
    return LensBatch(batch["f_number"], batch["focal_mm"], batch["focus_m"], batch["sensor_diag_mm"], pitch)


# --- model pieces -----------------------------------------------------------------------------

class NetworkOnCrop(nn.Module):
    """The network on a crop, as ``tiles x tiles`` TSP tiles; a module of its own so DDP sees a
    ``forward`` (``forward_tiled`` calls ``BokehFlow.network``). Returns (inv_depth, refine, aux,
    inverse depth of the whole crop seen at ``other_f_number`` or None), the last for the
    consistency loss."""

    def __init__(self, model: BokehFlow) -> None:
        super().__init__()
        self.model = model

    def forward(self, srgb: torch.Tensor, f_number: torch.Tensor, focal_mm: torch.Tensor, focus_m: torch.Tensor,
                sensor_diag_mm: torch.Tensor, pixel_pitch_mm: torch.Tensor, tiles: int,
                other_f_number: torch.Tensor | None = None, cues: torch.Tensor | None = None):
        lens = LensBatch(f_number, focal_mm, focus_m, sensor_diag_mm, pixel_pitch_mm)
        out = forward_tiled(self.model, srgb, lens, (tiles, tiles), render=False, cues=cues)
        if other_f_number is None:
            return out.inv_depth, out.refine_lin, out.aux_inv_depth, None
        other = LensBatch(other_f_number, focal_mm, focus_m, sensor_diag_mm, pixel_pitch_mm)
        return out.inv_depth, out.refine_lin, out.aux_inv_depth, self.model.network(srgb, other, cues=cues).inv_depth


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices and conv kernels only (not biases, norms, initial states)."""
    decay, keep = [], []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        (decay if p.ndim >= 2 and leaf != "state_init" and "norm" not in leaf else keep).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


@torch.no_grad()
def update_ema(ema_model: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """``ema <- d ema + (1 - d) w`` with ``d = min(decay, (1 + step) / (10 + step))`` (a short
    run's average is not dominated by its random initialisation)."""
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema_model.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - d)
    for e, b in zip(ema_model.buffers(), model.buffers()):
        e.copy_(b)


# --- loss -------------------------------------------------------------------------------------

def compute_loss(rendered_srgb: torch.Tensor, target: torch.Tensor, source: torch.Tensor,
                 inv_depth: torch.Tensor, aux_inv_depth: list[torch.Tensor], depth_m: torch.Tensor | None,
                 config: BokehFlowConfig, lpips_net: nn.Module | None, other_inv_depth: torch.Tensor | None = None,
                 tiles: int = 1) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss (scalar) and its unweighted parts; images (B, 3, H, W) sRGB in [0, 1].
    ``other_inv_depth``: the whole crop's inverse depth at another f-number (the consistency
    term; ``inv_depth`` came from ``tiles x tiles`` tiles, whose seams it leaves out)."""
    parts = {"l1": (rendered_srgb - target).abs().mean(),
             "ssim": 1.0 - losses.ssim(rendered_srgb, target).mean(),
             "smooth": losses.edge_aware_smoothness(inv_depth, source)}
    total = parts["l1"] + parts["ssim"] + SMOOTH_WEIGHT * parts["smooth"]
    if lpips_net is not None:
        parts["lpips"] = lpips_net(rendered_srgb, target).mean()
        total = total + LPIPS_WEIGHT * parts["lpips"]
    if depth_m is not None:
        bounds = (config.min_depth_m, config.max_depth_m)
        parts["depth"] = losses.log_inverse_depth_l1(inv_depth, depth_m, *bounds)
        parts["aux_depth"] = torch.stack([losses.log_inverse_depth_l1(a, depth_m, *bounds)
                                          for a in aux_inv_depth]).mean()
        total = total + DEPTH_WEIGHT * parts["depth"] + AUX_DEPTH_WEIGHT * parts["aux_depth"]
    if other_inv_depth is not None:
        parts["consistency"] = losses.depth_consistency(inv_depth, other_inv_depth, (tiles, tiles),
                                                       TSP_SEAM_MARGIN_PX)
        total = total + CONSISTENCY_WEIGHT * parts["consistency"]
    return total, parts


def render_crop(net: nn.Module, batch: dict[str, torch.Tensor], tiles: int, amp: bool,
                other_f_number: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor | None]:
    """Network (bf16 autocast if ``amp``) then the fp32 thin-lens render: rendered sRGB (B, 3, H, W),
    inverse depth, coarse inverse depths, and the whole crop's inverse depth at ``other_f_number``
    (B,) (None without it)."""
    lens = lens_of(batch)
    source = batch["source"]
    with torch.autocast(device_type=source.device.type, dtype=torch.bfloat16, enabled=amp):
        inv_depth, refine, aux, other = net(source, lens.f_number, lens.focal_mm, lens.focus_m,
                                            lens.sensor_diag_mm, lens.pixel_pitch_mm, tiles, other_f_number,
                                            batch.get("cues"))
    out = finish(NetworkOutput(inv_depth.float(), refine.float(), [a.float() for a in aux], {}), source, lens)
    return linear_to_srgb(out.rendered_lin), out.inv_depth, out.aux_inv_depth, None if other is None else other.float()


@torch.no_grad()
def validate(model: BokehFlow, pairs: list, crop_loader: DataLoader, device: torch.device, amp: bool,
             lpips_net: nn.Module | None) -> dict[str, float]:
    """``val_psnr``, ``val_ssim``: ``bokeh eval``'s protocol on the validation pairs (every pair,
    full resolution, tiled inference; plain means over pairs), the selection criterion. Beside
    them, as a cheap extra, the mean loss and PSNR on the fixed validation crops (epoch 0 of the
    set): ``val_crop_loss``, ``val_crop_psnr``."""
    model.eval()
    scores, _ = score_pairs(pairs, model_method(model, DEFAULT_TILE_PX), device, lpips_net)
    summary = summarize(scores, None)
    metrics = {"val_psnr": summary["psnr"], "val_ssim": summary["ssim"]}
    if summary["lpips"] is not None:
        metrics["val_lpips"] = summary["lpips"]
    net = NetworkOnCrop(model)
    total, psnr_sum, count = 0.0, 0.0, 0
    for batch in crop_loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        rendered, inv_depth, aux, _ = render_crop(net, batch, 1, amp)
        loss, _ = compute_loss(rendered, batch["target"], batch["source"], inv_depth, aux, batch.get("depth_m"),
                               model.config, lpips_net)
        n = rendered.shape[0]
        total += float(loss) * n
        psnr_sum += float(losses.psnr(rendered, batch["target"]).sum())
        count += n
    return {**metrics, "val_crop_loss": total / count, "val_crop_psnr": psnr_sum / count}


# --- distributed ------------------------------------------------------------------------------

def reduce_mean(values: torch.Tensor, ddp: Dist) -> torch.Tensor:
    if ddp.world > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= ddp.world
    return values


# --- checkpoint state -------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    """Python, numpy and torch global RNG states as tensors and plain values (weights_only)."""
    np_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    state = {"python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                        "gauss": gauss},
             "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                       "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                       "gauss": float(np_state["gauss"])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
                         "has_gauss": npy["has_gauss"], "gauss": npy["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_state(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means a bad file
        raise InputError(f"{path}: not a readable training state ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise InputError(f"{path}: not a bokeh training state")
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def truncate_log(path: Path, last_step: int) -> None:
    """Keep the log lines of steps <= ``last_step`` (drops lines written after the checkpoint,
    and a torn last line)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= last_step:
            kept.append(line)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def append_log(path: Path, record: dict[str, Any]) -> None:
    """One JSON line per call, written with a single ``write`` (non-finite numbers -> null)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(clean, allow_nan=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# --- the run ----------------------------------------------------------------------------------

@dataclass
class Runtime:
    """Per-invocation options (not stored in the run)."""

    data: Path
    out: Path
    resume: bool = False
    device: str = "auto"
    amp: bool | None = None  # None: bf16 autocast on CUDA only
    workers: int = 2
    stop_at: int | None = None  # end this invocation after this step (schedule of --steps kept)
    log: str | None = None  # also write the logged scalars for one of LOGGERS
    on_note: Callable[[str], None] = print
    on_step: Callable[[int, int, dict[str, Any]], None] | None = None  # (step, last, record)
    on_log: Callable[[int, dict[str, Any]], None] | None = None  # (last, record) of each log.jsonl line


def train(given: dict[str, Any], rt: Runtime) -> dict[str, Any] | None:
    """Train (or resume) a run; returns a summary (None on ranks other than 0). ``given``: the
    explicitly set :class:`TrainSettings` fields. Raises BokehError for usage and data problems."""
    with process_group(rt.device) as ddp, contextlib.ExitStack() as on_exit:
        if not ddp.main:
            rt = dataclasses.replace(rt, on_note=lambda note: None, on_step=None, on_log=None)
        summary = _train(given, rt, ddp, on_exit)
        return summary if ddp.main else None


@contextlib.contextmanager
def worker_batches(loader: DataLoader) -> Iterator[Iterator[Any]]:
    """The batches of ``loader``, whose workers ignore SIGINT/SIGTERM (``worker_init_fn`` is
    :func:`ignore_stop_signals`): they start with the signals held back, and on any exit, an
    interrupt included, the parent stops them. Torch stops them itself when the iterator is
    garbage collected, but an interrupt's traceback keeps it alive until the interpreter exits,
    when torch no longer does (and multiprocessing would wait forever for workers that ignore
    SIGTERM); ``_shutdown_workers`` is what the iterator's own ``__del__`` calls."""
    batches = None
    try:
        with signals_deferred():  # an interrupt then comes after the iterator exists, for finally to stop
            batches = iter(loader)
        yield batches
    finally:
        shutdown = getattr(batches, "_shutdown_workers", None)  # absent without workers
        if shutdown is not None:
            with signals_deferred():  # a second Ctrl-C must not leave them running
                shutdown()


def _train(given: dict[str, Any], rt: Runtime, ddp: Dist, on_exit: contextlib.ExitStack) -> dict[str, Any]:
    check_logger(rt.log)
    device = pick_device(rt.device, ddp)
    amp = (device.type == "cuda") if rt.amp is None else rt.amp
    state_path, log_path = rt.out / "state.pt", rt.out / "log.jsonl"
    last_path, best_path = rt.out / "last.safetensors", rt.out / "best.safetensors"

    # Settings: a new run, or the stored ones of the run being resumed.
    state = None
    if ddp.main:  # a kill -9 during a checkpoint write leaves its temporary file behind
        remove_stale_temp_files(rt.out)
    if state_path.exists():
        if not rt.resume:
            raise BokehError(f"{rt.out}: already holds a training run (state.pt); pass --resume or another --out")
        state = load_state(state_path)
    elif rt.resume:
        rt.on_note(f"{rt.out}: nothing to resume, starting a new run")
    settings, notes = resolve_settings(given, state["settings"] if state else None)
    for note in notes:
        rt.on_note(note)
    last_step = min(settings.steps, rt.stop_at) if rt.stop_at else settings.steps
    start_step = state["step"] if state else 0
    if start_step >= last_step:
        rt.on_note(f"{rt.out}: already at step {start_step} of {settings.steps}, nothing to do")
        return _summary(rt, BokehFlowConfig.from_json(state["config"]).name, settings, start_step, 0.0, 0,
                        state["skipped_steps"], (state["best_val_psnr"], state["best_step"]))

    # Model, EMA, optimiser, schedule (then overwritten by the stored state on resume).
    torch.manual_seed(settings.seed)
    if state is not None:
        model = BokehFlow(BokehFlowConfig.from_json(state["config"]))
    elif settings.init is not None:
        model = load_model(settings.init).train()
        wanted = VARIANTS.get(settings.variant) if "variant" in given else None
        if wanted is not None and wanted.cue_channels and not model.config.cue_channels:
            # a photo-only model of the same shape grows cue inputs, starting from the cues' own depth
            if dataclasses.replace(model.config, name=wanted.name, cue_channels=wanted.cue_channels) == wanted:
                model = with_cue_inputs(model, settings.variant, wanted.cue_channels).train()
        if "variant" in given and model.config.name != settings.variant:
            raise BokehError(f"--init {settings.init} is a {model.config.name!r} model, not --variant "
                             f"{settings.variant}")
    else:
        model = create_model(settings.variant)
    model.to(device).train()
    ema_model = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(param_groups(model, settings.weight_decay), lr=settings.lr, betas=BETAS)
    schedule = functools.partial(warmup_cosine, warmup=settings.warmup, total=settings.steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    skipped, best_psnr, best_step, position = 0, None, None, 0
    if state is not None:
        model.load_state_dict(state["model"])
        ema_model.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        skipped, best_psnr, best_step = state["skipped_steps"], state["best_val_psnr"], state["best_step"]
        if state.get("selection") != SELECTION and best_psnr is not None:
            rt.on_note(f"{rt.out}: its best.safetensors was chosen on validation crops; from now on by the full-image "
                       "protocol of bokeh eval (the next validation sets a new best)")
            best_psnr, best_step = None, None
        position = state["data_position"]
    if ddp.main:  # a new run starts a new log: one interrupted before its first checkpoint left lines
        truncate_log(log_path, start_step)

    # Data: this rank's slice of the sample stream from the stored position, in micro-batches.
    micro_per_step = settings.accumulate
    takes_cues = model.config.cue_channels > 0
    train_set = RealBokehTrain(rt.data, "train", crop=settings.crop, seed=settings.seed, cues=takes_cues)
    loader = DataLoader(SampleStream(train_set, settings.seed), batch_size=settings.batch_size,
                        sampler=PositionSampler(position, (last_step - start_step) * micro_per_step,
                                                settings.batch_size, ddp.rank, ddp.world),
                        num_workers=rt.workers, pin_memory=device.type == "cuda", worker_init_fn=ignore_stop_signals)
    val_pairs, val_loader = None, None
    if ddp.main and (rt.data / "validation" / "metadata").is_dir():
        val_pairs = list_pairs(rt.data, "validation")
        val_set = RealBokehTrain(rt.data, "validation", crop=settings.crop, seed=settings.seed, cues=takes_cues)
        val_loader = DataLoader(val_set, batch_size=settings.batch_size, num_workers=0)
    elif ddp.main:
        rt.on_note(f"{rt.data}: no validation split; best.safetensors will not be written")

    if ddp.main:  # after the data is found: a wrong --data leaves no empty run folder
        try:
            rt.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{rt.out}: cannot create the run folder: {exc.strerror or exc}") from None
        write_config(rt.out / "config.json", settings, rt, model.config, ddp.world, amp)
    scalars = ScalarLog(rt.out, start_step) if ddp.main and rt.log is not None else None

    lpips_net, lpips_note = losses.load_lpips(device)
    if ddp.main and lpips_note:
        rt.on_note(f"{lpips_note}; training without the LPIPS term")
    net: nn.Module = NetworkOnCrop(model)
    if ddp.world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    micro_batch = settings.batch_size * ddp.world  # positions per micro-batch, all ranks
    global_batch = micro_batch * micro_per_step  # samples per optimiser step
    micro_batches = on_exit.enter_context(worker_batches(loader))
    run_start = time.perf_counter()
    tick = run_start
    step = start_step
    for step in range(start_step + 1, last_step + 1):
        step_rng = np.random.default_rng((settings.seed, step))
        tiles = TILES_XY[0] if step_rng.random() < TILED_FRACTION else 1
        # Drawn for the global batch, each rank and micro-batch taking its slice (the positions it
        # reads): DDP and accumulation then see what one process with one big batch would.
        other_f = torch.from_numpy(np.exp(step_rng.uniform(*np.log(OTHER_F_RANGE), global_batch))).float()
        optimizer.zero_grad(set_to_none=True)
        totals = None
        for micro in range(micro_per_step):
            batch = {k: v.to(device, non_blocking=True) for k, v in next(micro_batches).items()}
            first = micro * micro_batch + ddp.rank * settings.batch_size
            micro_other_f = other_f[first:first + len(batch["f_number"])].to(device)
            # DDP all-reduces the gradients on the last micro-batch's backward only.
            sync = ddp.world == 1 or micro == micro_per_step - 1
            with contextlib.nullcontext() if sync else net.no_sync():
                rendered, inv_depth, aux, other = render_crop(net, batch, tiles, amp, micro_other_f)
                loss, parts = compute_loss(rendered, batch["target"], batch["source"], inv_depth, aux,
                                           batch.get("depth_m"), model.config, lpips_net, other, tiles)
                (loss / micro_per_step).backward()
            values = torch.stack([loss.detach(), *[v.detach() for v in parts.values()]]).float()
            totals = values if totals is None else totals + values
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP))
        names = ["loss", *parts]
        # reduced on the training device: NCCL has no CPU tensors
        values = reduce_mean(totals / micro_per_step, ddp).cpu()
        lr = optimizer.param_groups[0]["lr"]
        if math.isfinite(float(values[0])) and math.isfinite(grad_norm):
            optimizer.step()
            update_ema(ema_model, model, settings.ema, step)
        else:  # gradients are all-reduced, so every rank takes the same decision
            skipped += 1
        scheduler.step()
        position += global_batch

        now = time.perf_counter()  # throughput of data + step, not of validation and checkpoints
        record = {"step": step, **{n: float(v) for n, v in zip(names, values)}, "lr": lr, "grad_norm": grad_norm,
                  "skipped_steps": skipped, "tiles": tiles,
                  "samples_per_s": global_batch / (now - tick), "elapsed_s": now - run_start}
        checkpoint = step % settings.save_every == 0 or step == last_step
        validation = val_pairs is not None and (step % settings.val_every == 0 or step == last_step)
        if validation:
            metrics = validate(ema_model, val_pairs, val_loader, device, amp, lpips_net)
            record.update(metrics)
            if best_psnr is None or metrics["val_psnr"] > best_psnr:
                best_psnr, best_step = metrics["val_psnr"], step
                save_model(ema_model, best_path, step=str(step), val_psnr=f"{best_psnr:.4f}", selection=SELECTION)
            checkpoint = True
        if ddp.main and (step % settings.log_every == 0 or step == last_step or validation):
            append_log(log_path, record)
            if scalars is not None:
                scalars(record)
            if rt.on_log is not None:
                rt.on_log(last_step, record)
        if ddp.main and checkpoint:
            save_model(ema_model, last_path, step=str(step))
            save_state(state_path, {
                "format": STATE_FORMAT, "step": step, "settings": dataclasses.asdict(settings),
                "config": model.config.to_json(), "model": model.state_dict(), "ema": ema_model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(),
                "data_position": position, "skipped_steps": skipped, "best_val_psnr": best_psnr,
                "best_step": best_step, "selection": SELECTION})
        if ddp.main and rt.on_step is not None:
            rt.on_step(step, last_step, record)
        tick = time.perf_counter()
    if scalars is not None:
        scalars.close()
    seconds = time.perf_counter() - run_start
    return _summary(rt, model.config.name, settings, step, seconds, (step - start_step) * global_batch,
                    skipped, (best_psnr, best_step))


def write_config(path: Path, settings: TrainSettings, rt: Runtime, config: BokehFlowConfig, world: int,
                 amp: bool) -> None:
    """RUN/config.json: every setting of the run (the stored ones on resume), this invocation's
    options, the model's config, and the code and packages that ran it; written atomically."""
    content = {
        "settings": dataclasses.asdict(settings),
        "effective_batch": settings.batch_size * settings.accumulate * world,
        "invocation": {"data": str(rt.data.resolve()), "out": str(rt.out.resolve()), "resume": rt.resume,
                       "device": rt.device, "amp": amp, "workers": rt.workers, "stop_at": rt.stop_at,
                       "log": rt.log, "world_size": world},
        "model": json.loads(config.to_json()),
        "selection": {"best.safetensors": "highest val_psnr: bokeh eval's protocol on the validation split "
                                          f"(every pair, full resolution, network tiles of {DEFAULT_TILE_PX} px)"},
        **provenance(),
    }
    atomic_write_bytes(path, (json.dumps(content, indent=2) + "\n").encode())


class ScalarLog:
    """TensorBoard scalars of each logged record under ``RUN/tensorboard`` (``--log tensorboard``):
    ``train/<key>`` and ``val/<key>``. Events of steps after ``start_step``, left by an interrupted
    invocation, are purged, as log.jsonl's lines are."""

    def __init__(self, out: Path, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=start_step + 1)

    def __call__(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                continue
            tag = f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"
            self.writer.add_scalar(tag, value, record["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def check_logger(name: str | None) -> None:
    """Raises BokehError unless ``--log NAME`` is None or one of LOGGERS, installed."""
    if name is None:
        return
    if name not in LOGGERS:
        raise BokehError(f"--log must be one of {', '.join(LOGGERS)}, got {name!r}")
    if importlib.util.find_spec("tensorboard") is None:
        raise BokehError("--log tensorboard needs the tensorboard package: pip install 'bokehcli[tensorboard]'")


def _summary(rt: Runtime, model_name: str, settings: TrainSettings, step: int, seconds: float, samples: int,
             skipped: int, best: tuple[float | None, int | None]) -> dict[str, Any]:
    best_psnr, best_step = best
    best_path = rt.out / "best.safetensors"
    return {"out": str(rt.out), "model": model_name, "step": step, "steps": settings.steps,
            "skipped_steps": skipped, "seconds": round(seconds, 2),
            "samples_per_s": round(samples / seconds, 3) if seconds > 0 else None,
            "best_step": best_step, "best_val_psnr": best_psnr,
            "last": str(rt.out / "last.safetensors"), "best": str(best_path) if best_path.exists() else None}
