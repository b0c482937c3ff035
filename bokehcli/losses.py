"""Image losses and metrics shared by training and evaluation: small pure functions.

SSIM follows torchmetrics' ``structural_similarity_index_measure`` (Wang et al. 2004; torchmetrics
1.9) with its defaults: a Gaussian window of sigma 1.5 whose size is ``2 * int(3.5 * sigma + 0.5) +
1 = 11``, ``k1 = 0.01``, ``k2 = 0.03``, variances clamped at 0. Both images are reflect-padded by 5
px before filtering, so the SSIM map has the image's own size, and one value per image is the mean
of that whole map over channels and positions (torchmetrics releases before late 2024 cropped the
5-px border instead; the two differ in the third decimal). Unlike torchmetrics' default
(``data_range`` from the data), the data range is fixed at 1 (the data set's protocol).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"  # torchvision's file name in the torch hub cache


def gaussian_window(sigma: float = SSIM_SIGMA, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised 2-D Gaussian (K, K), ``K = 2 * int(3.5 sigma + 0.5) + 1`` (torchmetrics' size)."""
    size = 2 * int(3.5 * sigma + 0.5) + 1
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Per-image SSIM: ``pred``, ``target`` (B, C, H, W) -> (B,). Differentiable in ``pred``.

    Needs ``H, W > K // 2`` (6 px for sigma 1.5: reflection). See the module docstring for the
    exact definition.
    """
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    b, c = pred.shape[:2]
    window = gaussian_window(sigma, pred.dtype, pred.device)
    k = window.shape[-1]
    pad = k // 2
    if min(pred.shape[-2:]) <= pad:
        raise ValueError(f"SSIM needs images of at least {pad + 1}x{pad + 1} px, got {tuple(pred.shape[-2:])}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    padded = F.pad(torch.cat([pred, target]), (pad, pad, pad, pad), mode="reflect")
    p, t = padded.split(b)
    stack = torch.cat([p, t, p * p, t * t, p * t])                          # (5B, C, H + 2 pad, W + 2 pad)
    moments = F.conv2d(stack, window.expand(c, 1, k, k), groups=c).split(b)
    mu_p, mu_t = moments[0], moments[1]
    var_p = (moments[2] - mu_p ** 2).clamp_min(0.0)
    var_t = (moments[3] - mu_t ** 2).clamp_min(0.0)
    cov = moments[4] - mu_p * mu_t
    ssim_map = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_t ** 2 + c1) * (var_p + var_t + c2))
    return ssim_map.flatten(1).mean(dim=1)


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         max_db: float = 100.0) -> torch.Tensor:
    """Per-image PSNR in dB: (B, C, H, W) -> (B,), ``10 log10(range^2 / MSE)`` with the MSE over
    all channels and pixels of each image (torchmetrics with ``dim=(1, 2, 3)``). Identical images
    give ``max_db`` instead of infinity so reports stay finite JSON."""
    mse = (pred - target).pow(2).flatten(1).mean(dim=1)
    floor = data_range ** 2 * 10.0 ** (-max_db / 10.0)
    return 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(floor))


def quantize_8bit(srgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] rounded to the 256 levels an 8-bit file stores (what a saved JPEG would hold
    before compression)."""
    return torch.round(srgb.clamp(0.0, 1.0) * 255.0) / 255.0


def edge_aware_smoothness(inv_depth: torch.Tensor, srgb: torch.Tensor) -> torch.Tensor:
    """Edge-aware first-order smoothness of inverse depth (Godard et al. 2017/2019): scalar.

    ``inv_depth`` (B, 1, H, W) is divided by its per-image mean (so the penalty does not push the
    whole map towards far depths); its gradients are weighted by ``exp(-|grad I|)`` of the image
    ``srgb`` (B, 3, H, W), averaged over channels, so depth may jump where the photo has edges.
    """
    d = inv_depth / inv_depth.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    dx = (d[..., :, 1:] - d[..., :, :-1]).abs()
    dy = (d[..., 1:, :] - d[..., :-1, :]).abs()
    ix = (srgb[..., :, 1:] - srgb[..., :, :-1]).abs().mean(dim=1, keepdim=True)
    iy = (srgb[..., 1:, :] - srgb[..., :-1, :]).abs().mean(dim=1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def log_inverse_depth_l1(inv_depth: torch.Tensor, depth_m: torch.Tensor, min_depth_m: float,
                         max_depth_m: float) -> torch.Tensor:
    """Supervised depth: mean ``|log(1/D_pred) - log(1/D_true)|`` over pixels, scalar.

    ``inv_depth`` (B, 1, h, w) 1/m; ``depth_m`` (B, 1, H, W) true metres (may be ``inf``), clamped
    to the network's bounds and, when the sizes differ, averaged in inverse depth down to (h, w)
    (deep supervision of the coarse stages). Log space: an error of x % costs the same near and far.
    """
    target = 1.0 / depth_m.clamp(min_depth_m, max_depth_m)
    if target.shape[-2:] != inv_depth.shape[-2:]:
        target = F.adaptive_avg_pool2d(target, inv_depth.shape[-2:])
    return (torch.log(inv_depth) - torch.log(target)).abs().mean()


def depth_consistency(tiled_inv_depth: torch.Tensor, whole_inv_depth: torch.Tensor, tiles_xy: tuple[int, int],
                      seam_margin_px: int) -> torch.Tensor:
    """Agreement of two runs on one crop: mean ``|log(1/D_tiled) - log(1/D_whole)|`` away from the
    tile seams, scalar (TSP: tiles vs the whole crop; aperture: the crop at two f-numbers).

    Both (B, 1, H, W); the first run cut the crop into ``nx x ny`` equal tiles ((1, 1): none).
    Pixels within ``seam_margin_px`` (at most a quarter of the tile) of an inner seam are left
    out: there the convolutions see the tile's border, which inference covers with overlapping,
    feathered tiles.
    """
    height, width = tiled_inv_depth.shape[-2:]
    device = tiled_inv_depth.device

    def away_from_seams(length: int, n_tiles: int) -> torch.Tensor:
        margin = min(seam_margin_px, length // n_tiles // 4)
        centre = torch.arange(length, device=device) + 0.5  # pixel centres; seams lie between pixels
        keep = torch.ones(length, dtype=torch.bool, device=device)
        for seam in range(1, n_tiles):
            keep &= (centre - seam * length // n_tiles).abs() > margin
        return keep

    keep = away_from_seams(height, tiles_xy[1])[:, None] & away_from_seams(width, tiles_xy[0])[None, :]
    diff = (torch.log(tiled_inv_depth) - torch.log(whole_inv_depth)).abs()
    return diff[..., keep].mean()


def load_lpips(device: torch.device | str = "cpu") -> tuple[torch.nn.Module | None, str | None]:
    """LPIPS (AlexNet, Zhang et al. 2018) when the reference ``lpips`` package and torchvision's
    AlexNet weights are present locally; ``(None, reason)`` otherwise. Never downloads.

    The returned module maps two (B, 3, H, W) sRGB images in [0, 1] to (B, 1, 1, 1) distances.
    """
    try:
        import lpips  # the authors' package; it needs torchvision for the AlexNet backbone
    except ImportError:
        return None, "LPIPS unavailable: the lpips package (with torchvision) is not installed"
    backbone = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS
    if not backbone.is_file():
        return None, f"LPIPS unavailable: AlexNet weights not found at {backbone} (nothing is downloaded)"
    net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return _UnitRangeLPIPS(net), None


class _UnitRangeLPIPS(torch.nn.Module):
    """LPIPS on [0, 1] inputs (the network expects [-1, 1])."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.inner(a * 2.0 - 1.0, b * 2.0 - 1.0)
