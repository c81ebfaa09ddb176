"""FID and KID: closed forms on known Gaussians, and the Inception plumbing."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from img2img.evaluation.distribution import (
    InceptionFeatures,
    distribution_scores,
    features_of,
)
from img2img.evaluation.weights import (
    MissingWeightsError,
    check_tensor_file,
    inception_weights,
    no_downloads,
)


def _gaussian_samples(mean: torch.Tensor, variances: torch.Tensor, n: int, seed: int):
    """``n`` samples whose sample mean and (unbiased) covariance are exactly the given ones."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, len(mean), generator=generator, dtype=torch.float64)
    x = x - x.mean(0)
    cov = x.T @ x / (n - 1)
    x = x @ torch.linalg.inv(torch.linalg.cholesky(cov)).T  # whitened: covariance I exactly
    return x * variances.sqrt() + mean


def test_fid_of_two_gaussians_equals_the_closed_form():
    mean_a, mean_b = torch.tensor([0.0, 1.0, -2.0, 0.5]), torch.tensor([1.0, 1.0, 0.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25, 2.0]), torch.tensor([2.0, 1.0, 1.0, 0.5])
    a = _gaussian_samples(mean_a.double(), var_a.double(), 500, 0)
    b = _gaussian_samples(mean_b.double(), var_b.double(), 400, 1)
    # diagonal covariances: ||mu_a - mu_b||^2 + sum (sqrt(var_a) - sqrt(var_b))^2
    closed = float((mean_a - mean_b).square().sum() + (var_a.sqrt() - var_b.sqrt()).square().sum())
    scores = distribution_scores(a, b, kid_subsets=10, kid_subset_size=100)
    assert scores.fid == pytest.approx(closed, rel=1e-6)
    assert scores.kid > 0.01 and scores.kid_subset_size == 100


def test_a_set_against_itself_is_zero_and_kid_is_seeded():
    x = _gaussian_samples(torch.zeros(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64),
                          60, 2)
    same = distribution_scores(x, x.clone(), kid_subsets=5, kid_subset_size=30)
    assert same.fid == pytest.approx(0.0, abs=1e-6)
    shifted = x + 0.5
    first = distribution_scores(x, shifted, kid_subsets=5, kid_subset_size=30, seed=3)
    again = distribution_scores(x, shifted, kid_subsets=5, kid_subset_size=30, seed=3)
    assert first.kid == again.kid and first.kid > same.kid
    assert first.fid == pytest.approx(8 * 0.25, rel=1e-6)  # only the means moved
    with pytest.raises(ValueError, match="at least 2 images"):
        distribution_scores(x[:1], x)


def test_inception_plumbing_with_random_weights(metric_weights):
    """Randomly initialised Inception v3 of the real architecture, not the published weights."""
    torch.manual_seed(0)
    images = [torch.rand(3, 48, 64) for _ in range(2)] + [torch.rand(1, 40, 40)]
    extract = InceptionFeatures(metric_weights)
    features = features_of(extract, images, batch_size=2)
    assert features.shape == (3, 2048) and features.dtype == torch.float64
    assert torch.equal(features[:1], extract(images[0][None]))  # batching changes nothing
    assert not torch.allclose(features[0], features[1])
    tf = InceptionFeatures(metric_weights, tf_compatible=True)
    assert not torch.allclose(features_of(tf, images[:1]), features[:1])  # another resize
    assert "antialiasing" in extract.protocol()["resize"]
    assert "TensorFlow 1" in tf.protocol()["resize"]
    assert extract.protocol()["weights"].endswith(inception_weights().name)


def test_missing_inception_weights_and_no_download(empty_hub, tmp_path):
    with pytest.raises(MissingWeightsError) as caught:
        InceptionFeatures(tmp_path)
    assert inception_weights().name in str(caught.value)
    assert inception_weights().url in str(caught.value)
    with no_downloads(), pytest.raises(MissingWeightsError, match="tried to download"):
        torch.hub.load_state_dict_from_url("http://127.0.0.1:9/weights.pth")
    assert not any(empty_hub.rglob("*.pth"))


def test_weights_that_hold_code_are_refused(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"layer": math.pi, "note": Fraction(1, 3)}, path)  # an object: code to run
    with pytest.raises(ValueError, match="refused as weights"):
        check_tensor_file(path)
