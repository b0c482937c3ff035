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

Data order (:mod:`bokehcli.data.sampling`) is a pure function of the run's seed and a sample
position that ``state.pt`` stores (:mod:`bokehcli.train_state`), so ``--resume`` continues the exact
sample stream (and, since the stored settings win, the exact schedule: a different ``--steps`` is
refused; :mod:`bokehcli.train_settings`). Under ``torchrun`` every rank takes its own slice of each
global batch, gradients are averaged by DDP and rank 0 writes.

Read top to bottom: constants, schedule, lens, the network on a crop, optimiser pieces, loss,
validation, run files, then the run itself (:func:`train`, :func:`_train`, one step's helpers).
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from . import losses
from .data.realbokeh import RealBokehTrain, list_pairs
from .data.sampling import PositionSampler, SampleStream
from .errors import BokehError, OutputError
from .distributed import Dist, pick_device, process_group
from .evaluate import DEFAULT_TILE_PX, model_method, score_pairs, summarize
from .files import atomic_path, atomic_write_bytes, remove_stale_temp_files
from .models.bokehflow import BokehFlow, LensBatch, NetworkOutput, finish
from .models.config import VARIANTS, BokehFlowConfig
from .models.factory import create_model, load_model, save_model, with_cue_inputs
from .models.inference import forward_tiled
from .models.operating_point import operating_point_of
from .ops.color import linear_to_srgb
from .provenance import provenance
from .stop import ignore_stop_signals, signals_deferred
from .train_settings import TrainSettings, resolve_settings
from .train_state import TrainState

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
SELECTION = "eval-full-image"  # how best.safetensors is chosen (stored: older runs chose on crops)
LOGGERS = ("tensorboard",)


# --- schedule ---------------------------------------------------------------------------------

def warmup_cosine(index: int, warmup: int, total: int, min_ratio: float = MIN_LR_RATIO) -> float:
    """LR factor of optimiser step ``index`` (0-based): linear warm-up over ``warmup`` steps, then
    cosine from 1 to ``min_ratio`` at step ``total``, flat after."""
    if index < warmup:
        return (index + 1) / warmup
    progress = min(1.0, (index - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# --- data -------------------------------------------------------------------------------------

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


# --- run files -------------------------------------------------------------------------------

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


def loader_worker_init(_worker_id: int) -> None:
    """A training loader worker: ignores SIGINT/SIGTERM (its parent stops it), and hands its
    batches over in named shared memory. By default torch passes a batch's file descriptors
    through a socket served by a helper thread of the worker; a Ctrl-C that lands in the parent
    while it is fetching them closes that connection half-way, and the helper thread prints a
    traceback under the run's one-line "interrupted". Named segments involve no connection to
    the worker, and torch's shared-memory manager frees any an interrupted parent left open."""
    ignore_stop_signals()
    torch.multiprocessing.set_sharing_strategy("file_system")


@contextlib.contextmanager
def worker_batches(loader: DataLoader) -> Iterator[Iterator[Any]]:
    """The batches of ``loader``, whose workers ignore SIGINT/SIGTERM (``worker_init_fn`` is
    :func:`loader_worker_init`): they start with the signals held back, and on any exit, an
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
    settings, saved = _open_run(given, rt, ddp)
    last_step = min(settings.steps, rt.stop_at) if rt.stop_at else settings.steps
    start_step = saved.step if saved else 0
    if start_step >= last_step:
        rt.on_note(f"{rt.out}: already at step {start_step} of {settings.steps}, nothing to do")
        return _summary(rt, BokehFlowConfig.from_json(saved.config).name, settings, start_step, 0.0, 0, saved)

    model, ema_model, optimizer, scheduler, state = _build(settings, given, saved, device, rt)
    if ddp.main:  # a new run starts a new log: one interrupted before its first checkpoint left lines
        truncate_log(rt.out / "log.jsonl", start_step)
    loader, val_pairs, val_loader = _data(settings, rt, ddp, device, state.data_position, last_step - start_step,
                                          cues=model.config.cue_channels > 0)
    ema_model.operating_point = dataclasses.replace(  # what the saved weights say they were trained on
        operating_point_of(model), training_data=_data_summary(settings, rt, len(loader.dataset), ddp.world))
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
    global_batch = settings.batch_size * ddp.world * settings.accumulate  # samples per optimiser step
    micro_batches = on_exit.enter_context(worker_batches(loader))
    run_start = tick = time.perf_counter()
    step = start_step
    for step in range(start_step + 1, last_step + 1):
        tiles, other_f = _step_draws(settings.seed, step, global_batch)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.zero_grad(set_to_none=True)
        names, values, grad_norm = _accumulate_gradients(net, model, micro_batches, settings, ddp, device, amp,
                                                         lpips_net, tiles, other_f)
        if math.isfinite(float(values[0])) and math.isfinite(grad_norm):
            optimizer.step()
            update_ema(ema_model, model, settings.ema, step)
        else:  # gradients are all-reduced, so every rank takes the same decision
            state.skipped_steps += 1
        scheduler.step()
        state.step, state.data_position = step, state.data_position + global_batch

        now = time.perf_counter()  # throughput of data + step, not of validation and checkpoints
        record = {"step": step, **{n: float(v) for n, v in zip(names, values)}, "lr": lr, "grad_norm": grad_norm,
                  "skipped_steps": state.skipped_steps, "tiles": tiles,
                  "samples_per_s": global_batch / (now - tick), "elapsed_s": now - run_start}
        checkpoint = step % settings.save_every == 0 or step == last_step
        validation = val_pairs is not None and (step % settings.val_every == 0 or step == last_step)
        if validation:
            record.update(_validate_and_keep_best(ema_model, val_pairs, val_loader, device, amp, lpips_net, state,
                                                  rt.out / "best.safetensors"))
            checkpoint = True
        if ddp.main and (step % settings.log_every == 0 or step == last_step or validation):
            _log(rt, scalars, last_step, record)
        if ddp.main and checkpoint:
            save_model(ema_model, rt.out / "last.safetensors", step=str(step))
            state.save(rt.out / "state.pt", model, ema_model, optimizer, scheduler)
        if ddp.main and rt.on_step is not None:
            rt.on_step(step, last_step, record)
        tick = time.perf_counter()
    if scalars is not None:
        scalars.close()
    seconds = time.perf_counter() - run_start
    return _summary(rt, model.config.name, settings, step, seconds, (step - start_step) * global_batch, state)


def _open_run(given: dict[str, Any], rt: Runtime, ddp: Dist) -> tuple[TrainSettings, TrainState | None]:
    """The settings of this invocation and, on ``--resume``, the stored state (a new run: None)."""
    saved = None
    if ddp.main:  # a kill -9 during a checkpoint write leaves its temporary file behind
        remove_stale_temp_files(rt.out)
    state_path = rt.out / "state.pt"
    if state_path.exists():
        if not rt.resume:
            raise BokehError(f"{rt.out}: already holds a training run (state.pt); pass --resume or another --out")
        saved = TrainState.load(state_path)
    elif rt.resume:
        rt.on_note(f"{rt.out}: nothing to resume, starting a new run")
    settings, notes = resolve_settings(given, saved.settings if saved else None)
    for note in notes:
        rt.on_note(note)
    return settings, saved


def _build(settings: TrainSettings, given: dict[str, Any], saved: TrainState | None, device: torch.device,
           rt: Runtime) -> tuple[BokehFlow, BokehFlow, torch.optim.Optimizer, Any, TrainState]:
    """Model, EMA copy, optimiser and schedule: new, from ``--init`` weights, or as ``saved`` left
    them; and the state that the loop advances."""
    torch.manual_seed(settings.seed)
    if saved is not None:
        model = BokehFlow(BokehFlowConfig.from_json(saved.config))
    elif settings.init is not None:
        model = _grown_for_cues(load_model(settings.init).train(), settings.variant if "variant" in given else None)
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
    if saved is None:
        return model, ema_model, optimizer, scheduler, TrainState(
            step=0, settings=dataclasses.asdict(settings), config=model.config.to_json(), selection=SELECTION)
    saved.restore(model, ema_model, optimizer, scheduler)
    if saved.selection != SELECTION and saved.best_val_psnr is not None:
        rt.on_note(f"{rt.out}: its best.safetensors was chosen on validation crops; from now on by the full-image "
                   "protocol of bokeh eval (the next validation sets a new best)")
        saved.best_val_psnr, saved.best_step = None, None
    saved.selection = SELECTION
    return model, ema_model, optimizer, scheduler, saved


def _grown_for_cues(model: BokehFlow, variant: str | None) -> BokehFlow:
    """``--init`` weights of a photo-only model with ``--variant`` naming its cue-taking twin (the
    same shape plus cue channels): the twin, grown from them, its depth starting as the cues' own
    (:func:`bokehcli.models.factory.with_cue_inputs`). Anything else is returned as it is."""
    wanted = VARIANTS.get(variant) if variant is not None else None
    if wanted is None or not wanted.cue_channels or model.config.cue_channels:
        return model
    if dataclasses.replace(model.config, name=wanted.name, cue_channels=wanted.cue_channels) != wanted:
        return model
    return with_cue_inputs(model, wanted.name, wanted.cue_channels).train()


def _data(settings: TrainSettings, rt: Runtime, ddp: Dist, device: torch.device, position: int,
          n_steps: int, cues: bool = False) -> tuple[DataLoader, list | None, DataLoader | None]:
    """This rank's slice of the sample stream from ``position``, in micro-batches, for ``n_steps``
    optimiser steps; and (rank 0) the validation pairs and fixed validation crops, if any. ``cues``:
    samples carry the source's cue maps (a model with cue channels)."""
    train_set = RealBokehTrain(rt.data, "train", crop=settings.crop, seed=settings.seed, cues=cues)
    loader = DataLoader(SampleStream(train_set, settings.seed), batch_size=settings.batch_size,
                        sampler=PositionSampler(position, n_steps * settings.accumulate,
                                                settings.batch_size, ddp.rank, ddp.world),
                        num_workers=rt.workers, pin_memory=device.type == "cuda", worker_init_fn=loader_worker_init)
    val_pairs, val_loader = None, None
    if ddp.main and (rt.data / "validation" / "metadata").is_dir():
        val_pairs = list_pairs(rt.data, "validation")
        val_set = RealBokehTrain(rt.data, "validation", crop=settings.crop, seed=settings.seed, cues=cues)
        val_loader = DataLoader(val_set, batch_size=settings.batch_size, num_workers=0)
    elif ddp.main:
        rt.on_note(f"{rt.data}: no validation split; best.safetensors will not be written")
    return loader, val_pairs, val_loader


def _data_summary(settings: TrainSettings, rt: Runtime, n_scenes: int, world: int) -> str:
    init = f", starting from {settings.init}" if settings.init else ""
    return (f"bokeh train on {rt.data.resolve()} (RealBokeh layout, {n_scenes} training scenes): "
            f"{settings.steps} steps of {settings.batch_size * settings.accumulate * world} crops of "
            f"{settings.crop} px{init}")


def _step_draws(seed: int, step: int, global_batch: int) -> tuple[int, torch.Tensor]:
    """The step's tiling (1 or TILES_XY[0] tiles a side) and the other f-number of each sample of
    the global batch, from the step's own RNG (so a resumed run draws the same)."""
    step_rng = np.random.default_rng((seed, step))
    tiles = TILES_XY[0] if step_rng.random() < TILED_FRACTION else 1
    return tiles, torch.from_numpy(np.exp(step_rng.uniform(*np.log(OTHER_F_RANGE), global_batch))).float()


def _accumulate_gradients(net: nn.Module, model: BokehFlow, micro_batches: Iterator[Any], settings: TrainSettings,
                          ddp: Dist, device: torch.device, amp: bool, lpips_net: nn.Module | None, tiles: int,
                          other_f: torch.Tensor) -> tuple[list[str], torch.Tensor, float]:
    """Forward and backward of ``--accumulate`` micro-batches, then gradient clipping; returns the
    loss part names, their means over micro-batches and ranks, and the gradient norm before clipping.

    ``other_f`` is drawn for the global batch, each rank and micro-batch taking its slice (the
    positions it reads): DDP and accumulation then see what one process with one big batch would."""
    micro_batch = settings.batch_size * ddp.world  # positions per micro-batch, all ranks
    totals = None
    for micro in range(settings.accumulate):
        batch = {k: v.to(device, non_blocking=True) for k, v in next(micro_batches).items()}
        first = micro * micro_batch + ddp.rank * settings.batch_size
        micro_other_f = other_f[first:first + len(batch["f_number"])].to(device)
        # DDP all-reduces the gradients on the last micro-batch's backward only.
        sync = ddp.world == 1 or micro == settings.accumulate - 1
        with contextlib.nullcontext() if sync else net.no_sync():
            rendered, inv_depth, aux, other = render_crop(net, batch, tiles, amp, micro_other_f)
            loss, parts = compute_loss(rendered, batch["target"], batch["source"], inv_depth, aux,
                                       batch.get("depth_m"), model.config, lpips_net, other, tiles)
            (loss / settings.accumulate).backward()
        values = torch.stack([loss.detach(), *[v.detach() for v in parts.values()]]).float()
        totals = values if totals is None else totals + values
    grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP))
    # reduced on the training device: NCCL has no CPU tensors
    return ["loss", *parts], reduce_mean(totals / settings.accumulate, ddp).cpu(), grad_norm


def _validate_and_keep_best(ema_model: BokehFlow, val_pairs: list, val_loader: DataLoader, device: torch.device,
                            amp: bool, lpips_net: nn.Module | None, state: TrainState,
                            best_path: Path) -> dict[str, float]:
    """Validation metrics of the EMA model; a new best is recorded in ``state`` and written."""
    metrics = validate(ema_model, val_pairs, val_loader, device, amp, lpips_net)
    if state.best_val_psnr is None or metrics["val_psnr"] > state.best_val_psnr:
        state.best_val_psnr, state.best_step = metrics["val_psnr"], state.step
        save_model(ema_model, best_path, step=str(state.step), val_psnr=f"{state.best_val_psnr:.4f}",
                   selection=SELECTION)
    return metrics


def _log(rt: Runtime, scalars: "ScalarLog | None", last_step: int, record: dict[str, Any]) -> None:
    append_log(rt.out / "log.jsonl", record)
    if scalars is not None:
        scalars(record)
    if rt.on_log is not None:
        rt.on_log(last_step, record)


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
             state: TrainState) -> dict[str, Any]:
    best_path = rt.out / "best.safetensors"
    return {"out": str(rt.out), "model": model_name, "step": step, "steps": settings.steps,
            "skipped_steps": state.skipped_steps, "seconds": round(seconds, 2),
            "samples_per_s": round(samples / seconds, 3) if seconds > 0 else None,
            "best_step": state.best_step, "best_val_psnr": state.best_val_psnr,
            "last": str(rt.out / "last.safetensors"), "best": str(best_path) if best_path.exists() else None}
