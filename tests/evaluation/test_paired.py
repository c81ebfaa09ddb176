"""Paired metrics: hand-computed values, scikit-image's numbers, LPIPS plumbing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from img2img.evaluation.paired import LPIPS, l1, psnr, ssim
from img2img.evaluation.weights import MissingWeightsError, alexnet_weights

C1, C2 = 0.01**2, 0.03**2


def _constant(value: float, channels: int = 3, size: int = 16) -> torch.Tensor:
    return torch.full((channels, size, size), value, dtype=torch.float64)


def test_l1_and_psnr_by_hand():
    a, b = _constant(0.5), _constant(0.6)
    assert l1(a, b) == pytest.approx(0.1)
    assert psnr(a, b) == pytest.approx(20.0)  # MSE 0.01 -> 10 log10(1 / 0.01)
    assert psnr(a, a) == math.inf
    half = a.clone()
    half[:, :8] = 0.7  # half the pixels off by 0.2: MSE 0.02
    assert psnr(half, a) == pytest.approx(10 * math.log10(1 / 0.02))


def test_ssim_by_hand():
    # flat images: no variance, so SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1)
    a, b = 0.2, 0.6
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert ssim(_constant(a), _constant(b)) == pytest.approx(expected, abs=1e-7)
    assert ssim(_constant(a), _constant(a)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(_constant(a, size=8), _constant(b, size=8))


@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
def test_psnr_and_ssim_equal_scikit_image(gray):
    rng = np.random.default_rng(0)
    target = data.astronaut()[120:184, 150:230]
    noisy = np.clip(target.astype(int) + rng.integers(-40, 41, target.shape), 0, 255)
    output = noisy.astype(np.uint8)
    if gray:
        target, output = target[..., 0], output[..., 0]
    kwargs = {"channel_axis": None if gray else 2}

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a if a.ndim == 3 else a[..., None]).permute(2, 0, 1) / 255.0

    expected_ssim = structural_similarity(target, output, data_range=255, gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False, **kwargs)
    assert ssim(tensor(output), tensor(target)) == pytest.approx(expected_ssim, abs=1e-6)
    expected_psnr = peak_signal_noise_ratio(target, output, data_range=255)
    assert psnr(tensor(output), tensor(target)) == pytest.approx(expected_psnr, abs=1e-6)


def test_lpips_runs_on_a_random_alexnet(metric_weights):
    """Randomly initialised AlexNet (the real architecture), not the published weights."""
    lpips = LPIPS(metric_weights)
    assert lpips.weights.name == alexnet_weights().name
    torch.manual_seed(0)
    a, b = torch.rand(3, 64, 64), torch.rand(3, 64, 64)
    assert lpips(a, a) == pytest.approx(0.0, abs=1e-6)
    d = lpips(a, b)
    assert d > 0 and d == pytest.approx(lpips(b, a), rel=1e-5)
    assert lpips(a[:1], b[:1]) == pytest.approx(lpips(a[:1].repeat(3, 1, 1), b[:1].repeat(3, 1, 1)))
    assert "torchmetrics" in lpips.protocol()["library"]


def test_lpips_without_weights_names_the_file(empty_hub, tmp_path):
    with pytest.raises(MissingWeightsError) as caught:
        LPIPS(tmp_path / "nothing")
    message = str(caught.value)
    assert alexnet_weights().name in message and alexnet_weights().url in message
    assert str(tmp_path / "nothing") in message and "LPIPS" in message
