"""Per-image metrics of an output against its target: L1, PSNR, SSIM and LPIPS.

Images are float ``C x H x W`` in ``[0, 1]`` (8-bit values / 255). L1, PSNR and SSIM are
computed in float64 so they agree with scikit-image on the same files: PSNR with data range 1
(255 on 8-bit images); SSIM as Wang et al. 2004 with an 11x11 Gaussian window of sigma 1.5,
K1 0.01 and K2 0.03 (kornia), averaged over the window positions inside the image and over the
channels, as scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)``. LPIPS is torchmetrics' (AlexNet backbone and
the version 0.1 linear layers it ships), on inputs in ``[-1, 1]``.
"""

from __future__ import annotations

import math
import os
from importlib.metadata import version
from typing import Any

import torch
from torch import Tensor

from img2img.evaluation.weights import alexnet_weights, find_weights, hub_with

SSIM_WINDOW = 11  # kornia's SSIM window is Gaussian with sigma 1.5


def l1(output: Tensor, target: Tensor) -> float:
    """Mean absolute difference, in ``[0, 1]`` units."""
    return float((output.double() - target.double()).abs().mean())


def psnr(output: Tensor, target: Tensor) -> float:
    """Peak signal-to-noise ratio in dB, data range 1 (``inf`` for identical images)."""
    mse = float((output.double() - target.double()).square().mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(output: Tensor, target: Tensor) -> float:
    """Structural similarity (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5).

    Raises:
        ValueError: a side shorter than the window.
    """
    import kornia

    height, width = output.shape[-2:]
    if min(height, width) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}; got {height}x{width}"
        )
    value = kornia.metrics.ssim(output[None].double(), target[None].double(), SSIM_WINDOW,
                                max_val=1.0, padding="valid")
    return float(value.mean())


class LPIPS:
    """LPIPS distance of one image to another (torchmetrics, AlexNet backbone).

    The AlexNet weights are read from ``weights_dir`` or the torch hub cache, never
    downloaded (:func:`~img2img.evaluation.weights.find_weights`).
    """

    def __init__(self, weights_dir: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu") -> None:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        self.weights = find_weights(alexnet_weights(), weights_dir)
        with hub_with([self.weights]):
            metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
        self.net = metric.net.to(device).eval()
        self.device = torch.device(device)

    def __call__(self, output: Tensor, target: Tensor) -> float:
        """The distance of two ``C x H x W`` images in ``[0, 1]`` (gray is repeated)."""
        pair = [_rgb(x).to(self.device, torch.float32)[None] for x in (output, target)]
        with torch.no_grad():
            return float(self.net(*pair, normalize=True).reshape(()))

    def protocol(self) -> dict[str, Any]:
        return {
            "library": f"torchmetrics {version('torchmetrics')}",
            "network": "LPIPS v0.1, AlexNet backbone (linear layers shipped with torchmetrics)",
            "weights": str(self.weights),
            "input": "RGB in [-1, 1] at the images' own size (gray repeated to 3 channels)",
        }


def _rgb(image: Tensor) -> Tensor:
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def paired_protocol() -> dict[str, Any]:
    """How L1, PSNR and SSIM are computed, for the record."""
    return {
        "L1": "mean absolute difference in [0, 1] units (8-bit value / 255), mean over images",
        "PSNR": "10 log10(1 / MSE) with data range 1 (255 on 8-bit images), in dB, mean over "
                "images",
        "SSIM": f"Wang et al. 2004: {SSIM_WINDOW}x{SSIM_WINDOW} Gaussian window, sigma 1.5, "
                "K1 0.01, K2 0.03, valid window positions, mean over channels then images "
                f"(kornia {version('kornia')}; equals scikit-image's structural_similarity "
                "with gaussian_weights=True, use_sample_covariance=False)",
    }

