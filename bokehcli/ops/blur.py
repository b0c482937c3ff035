"""Aperture blur of image stacks: direct, FFT, and reduced-resolution FFT convolution.

All functions compute the *true* convolution with zero padding and 'same' output size,

    out[b, c, y, x] = sum_{i, j} K[i, j] * in[b, c, y - (i - h), x - (j - h)],   h = k // 2,

on tensors of shape (B, C, H, W) with a (k, k) kernel whose centre is at (h, h). Zero padding
matters: the renderer blurs premultiplied colour together with coverage and divides by the
blurred coverage at the end, so missing content outside the frame is renormalised away
(normalised convolution) instead of darkening the borders.

Cost does not grow as r^2 per pixel: small kernels use a direct depthwise convolution, medium
ones an FFT, and large ones an FFT at reduced resolution. A disk of radius r is a low-pass filter,
so after area-downsampling by s (a power of two, r / s >= REDUCED_MIN_RADIUS_PX) the blur is
computed with a kernel of radius r / s and upsampled bilinearly; with r / s >= 8 px the error is
a few 1e-4 (measured RMSE 1.5e-4..6e-4 at 24 MP), far below 8-bit quantisation
(docs/design.md#blur-cost-independent-of-the-radius).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .aperture import aperture_kernel

DIRECT_MAX_RADIUS_PX = 4.0  # up to 11x11 taps: direct convolution beats an FFT
REDUCED_MIN_RADIUS_PX = 8.0  # radius kept after downsampling (r/s in [8, 16))


def direct_convolve(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise true convolution of (B, C, H, W) with a (k, k) kernel.

    The result is laid out channels-last: oneDNN's depthwise kernel is 2-3x faster in that layout
    on CPU, the copy into it included (docs/design.md, "Work only where a layer is"); the values
    are the same in any layout."""
    channels = x.shape[1]
    k = kernel.shape[-1]
    weight = kernel.flip(-1, -2).to(x.dtype).expand(channels, 1, k, k)
    return F.conv2d(x.contiguous(memory_format=torch.channels_last), weight, padding=k // 2, groups=channels)


def fft_convolve(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """True convolution of (B, C, H, W) with a (k, k) kernel by FFT (linear, not circular)."""
    height, width = x.shape[-2:]
    k = kernel.shape[-1]
    half = k // 2
    fft_h, fft_w = _fast_len(height + k - 1), _fast_len(width + k - 1)
    spectrum = torch.fft.rfft2(x.float() if x.dtype == torch.bfloat16 else x, s=(fft_h, fft_w))
    kernel_spectrum = torch.fft.rfft2(kernel.to(spectrum.real.dtype).to(x.device), s=(fft_h, fft_w))
    full = torch.fft.irfft2(spectrum * kernel_spectrum, s=(fft_h, fft_w))
    return full[..., half:half + height, half:half + width].to(x.dtype)


def reduction_factor(radius_px: float) -> int:
    """Power-of-two downsampling factor s with radius / s in [8, 16) px (1 for small radii)."""
    if radius_px < 2 * REDUCED_MIN_RADIUS_PX:
        return 1
    return 2 ** int(math.floor(math.log2(radius_px / REDUCED_MIN_RADIUS_PX)))


def aperture_blur(
    x: torch.Tensor, coc_px: float, blades: int = 0, rotation_deg: float = 0.0
) -> torch.Tensor:
    """Blur (B, C, H, W) with the aperture PSF of signed CoC diameter ``coc_px`` (sums to 1)."""
    radius = abs(coc_px) / 2
    if radius <= 0.5:  # the anti-aliased kernel is a single pixel
        return x
    if radius <= DIRECT_MAX_RADIUS_PX:
        return direct_convolve(x, aperture_kernel(coc_px, blades, rotation_deg, dtype=x.dtype).to(x.device))
    s = reduction_factor(radius)
    if s == 1:
        return fft_convolve(x, aperture_kernel(coc_px, blades, rotation_deg, dtype=torch.float32))
    height, width = x.shape[-2:]
    # Zero-pad to a multiple of s: consistent with the zero padding of the convolution itself.
    padded = F.pad(x, (0, (-width) % s, 0, (-height) % s))
    small = F.avg_pool2d(padded, s)
    small = fft_convolve(small, aperture_kernel(coc_px / s, blades, rotation_deg, dtype=torch.float32))
    # align_corners=False matches the pixel centres of the area average: hi = s * lo + (s - 1) / 2.
    big = F.interpolate(small, scale_factor=s, mode="bilinear", align_corners=False)
    return big[..., :height, :width]


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (pocketfft is fastest on such sizes)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best
