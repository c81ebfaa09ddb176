"""Distribution metrics of a set of outputs against a set of real images: FID and KID.

Both compare Inception v3 pool features (2048 per image): torchmetrics' Inception, which is
torch-fidelity's port of the TensorFlow graph the original FID code used, computes them once
per image, and torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance``
compute the distances from those features. Images go in as 8-bit RGB at their own size and
are resized to 299x299 inside the network: by default as torchmetrics does (bilinear with
antialiasing), or, with ``tf_compatible``, as the TensorFlow 1 code did (bilinear without
antialiasing, torch-fidelity's and the original FID's protocol). The two give different
numbers; the one used is recorded with every result.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import torch
from torch import Tensor, nn

from img2img.evaluation.weights import (
    check_tensor_file,
    find_weights,
    inception_weights,
    no_downloads,
)

FEATURES = 2048
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_DEGREE = 3
RESIZE = {
    False: "bilinear with antialiasing to 299x299 (torchmetrics' default)",
    True: "bilinear without antialiasing to 299x299, as TensorFlow 1 (the original FID code "
          "and torch-fidelity; --tf-compatible)",
}


class InceptionFeatures:
    """Inception v3 pool features of 8-bit RGB images, from weights on disk.

    Args:
        weights_dir: where to look for the weights before the torch hub cache.
        tf_compatible: resize as TensorFlow 1 did instead of with antialiasing.
        device: where the network runs.
    """

    def __init__(self, weights_dir: str | os.PathLike | None = None, *,
                 tf_compatible: bool = False, device: str | torch.device = "cpu") -> None:
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.weights = find_weights(inception_weights(), weights_dir)
        check_tensor_file(self.weights)  # the library loads it with weights_only=False
        self.tf_compatible = tf_compatible
        self.device = torch.device(device)
        with no_downloads():
            self.net = NoTrainInceptionV3("inception-v3-compat", [str(FEATURES)],
                                          str(self.weights), antialias=not tf_compatible)
        self.net.to(self.device)

    def __call__(self, images: Tensor) -> Tensor:
        """Features ``[N, 2048]`` (float64) of ``[N, C, H, W]`` images in ``[0, 1]``."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        pixels = (images * 255).round().clamp(0, 255).to(self.device, torch.uint8)
        with torch.no_grad():
            return self.net(pixels).double().cpu()

    def protocol(self) -> dict[str, Any]:
        return {
            "feature_extractor": "Inception v3, 2048 pool features (torchmetrics' "
                                 "NoTrainInceptionV3, torch-fidelity's port of the TF graph)",
            "weights": str(self.weights),
            "resize": RESIZE[self.tf_compatible],
            "input": "8-bit RGB as stored (gray repeated to 3 channels)",
        }


def features_of(extract: InceptionFeatures, images: Iterable[Tensor], batch_size: int = 16
                ) -> Tensor:
    """Features of ``images`` (each ``C x H x W``), batching consecutive images of one size."""
    found: list[Tensor] = []
    batch: list[Tensor] = []
    for image in images:
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            found.append(extract(torch.stack(batch)))
            batch = []
        batch.append(image)
    if batch:
        found.append(extract(torch.stack(batch)))
    return torch.cat(found) if found else torch.empty(0, FEATURES, dtype=torch.float64)


class _Given(nn.Module):
    """A feature extractor for features computed already: the identity, with their size."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


@dataclass(frozen=True)
class DistributionScores:
    """FID and KID of one set of features against another.

    Attributes:
        fid: Fréchet distance of the two feature Gaussians.
        kid: mean of the unbiased MMD^2 (cubic polynomial kernel) over random subsets.
        kid_std: its standard deviation over the subsets.
        kid_subset_size: images per subset.
        kid_subsets: how many subsets.
    """

    fid: float
    kid: float
    kid_std: float
    kid_subset_size: int
    kid_subsets: int


def distribution_scores(
    real: Tensor, fake: Tensor, *, kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int = KID_SUBSET_SIZE, seed: int = 0,
) -> DistributionScores:
    """FID and KID (torchmetrics) between features ``real`` and ``fake`` (``[N, D]`` each).

    The KID subset size is ``kid_subset_size`` or the smaller set's size when that is
    smaller; subsets are drawn from a generator seeded with ``seed`` (the global one is left
    as it was).

    Raises:
        ValueError: fewer than 2 images in a set.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if min(len(real), len(fake)) < 2:
        raise ValueError(
            f"FID and KID need at least 2 images in each set; got {len(real)} real and "
            f"{len(fake)} generated"
        )
    dim = real.shape[1]
    subset = min(kid_subset_size, len(real), len(fake))
    fid = FrechetInceptionDistance(feature=_Given(dim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "KID keeps all features in memory"
        kid = KernelInceptionDistance(feature=_Given(dim), subsets=kid_subsets,
                                      subset_size=subset, degree=KID_DEGREE)
    for metric in (fid, kid):
        metric.update(real.double(), real=True)
        metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return DistributionScores(float(fid.compute()), float(kid_mean), float(kid_std), subset,
                              kid_subsets)


def distribution_protocol(extract: InceptionFeatures, scores: DistributionScores,
                          counts: tuple[int, int], seed: int) -> dict[str, Any]:
    """The record of how FID and KID were computed."""
    real, fake = counts
    record = {
        "library": f"torchmetrics {version('torchmetrics')} "
                   f"(torch-fidelity {version('torch-fidelity')})",
        **extract.protocol(),
        "real_images": real,
        "generated_images": fake,
        "kid_subset_size": scores.kid_subset_size,
        "kid_subsets": scores.kid_subsets,
        "kid_kernel": f"polynomial, degree {KID_DEGREE}, gamma 1/{FEATURES}, coef 1",
        "kid_seed": seed,
    }
    if min(counts) < FEATURES:
        record["note"] = (
            f"with fewer than {FEATURES} images in a set, FID's covariance is rank-deficient and "
            "FID is biased upwards; compare FIDs only at equal image counts"
        )
    return record

