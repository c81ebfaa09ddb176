"""The training-memory estimate of ``--dry-run``: built on the meta device, it counts what a real
step holds (weights, gradients, Adam's moments, the tensors saved for backward)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.data import default_collate

from img2img.engine.device import Precision
from img2img.engine.memory import estimate_training_memory, saved_tensor_bytes
from img2img.families import get_family
from tests.conftest import tiny_pix2pixhd_config

RECIPE = get_family("pix2pixhd").recipe_class()
DESCRIPTION = get_family("pix2pixhd").description_class()


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def test_estimate_equals_what_a_real_cpu_step_holds(synthetic_city) -> None:
    config = tiny_pix2pixhd_config(synthetic_city)
    sample = DESCRIPTION.build_dataset(config)[0]
    estimate = estimate_training_memory(RECIPE, config, sample)
    cpu = torch.device("cpu")
    recipe = RECIPE(config, cpu, Precision("fp32", cpu))
    params = _bytes(p for net in recipe.nets.values() for p in net.parameters())
    buffers = _bytes(b for net in recipe.nets.values() for b in net.buffers())
    assert estimate.weights == params + buffers
    assert estimate.gradients == params and estimate.optimizer == 2 * params
    batch = default_collate([sample] * config.train.batch_size)
    assert estimate.activations == saved_tensor_bytes(recipe, batch) > 0
    assert estimate.shape == (2, 64, 128)
    assert estimate.total == (estimate.weights + estimate.gradients + estimate.optimizer
                              + estimate.activations)
    assert "GiB peak for batch 2 at 64x128 in fp32" in estimate.describe()


def test_half_precision_halves_the_activations_and_batch_scales_them(synthetic_city) -> None:
    config = tiny_pix2pixhd_config(synthetic_city)
    sample = DESCRIPTION.build_dataset(config)[0]
    full = estimate_training_memory(RECIPE, config, sample)
    half = estimate_training_memory(
        RECIPE, config.replace(train=dataclasses.replace(config.train, precision="bf16")),
        sample)
    assert half.activations == full.activations // 2 and half.weights == full.weights
    double = estimate_training_memory(
        RECIPE, config.replace(train=dataclasses.replace(config.train, batch_size=4)), sample)
    assert double.activations == pytest.approx(2 * full.activations, rel=0.01)
