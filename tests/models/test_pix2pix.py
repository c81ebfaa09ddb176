"""The pix2pix recipe: one step's bookkeeping, and that a small model really learns."""

from __future__ import annotations

import pytest
import torch

from img2img.config import DataConfig
from img2img.data.dataset import PairedImageDataset
from img2img.families.loading import load_inference_model
from img2img.infer.stochastic import paper_test_mode
from img2img.launch import build_recipe, train
from img2img.nn.cpu_bf16 import cpu_has_bf16
from tests.conftest import tiny_pix2pix_config


def _batch(recipe, size=128):
    g = torch.Generator().manual_seed(0)
    return {
        "A": torch.rand(2, 1, size, size, generator=g) * 2 - 1,
        "B": torch.rand(2, 3, size, size, generator=g) * 2 - 1,
    }


def test_step_updates_both_networks(gray2color):
    recipe = build_recipe(tiny_pix2pix_config(gray2color))
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in recipe.nets.items()}
    losses = recipe.train_step(_batch(recipe))
    assert set(losses) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    assert all(torch.isfinite(v) for v in losses.values())
    for name, net in recipe.nets.items():
        changed = [
            not torch.equal(a, b) for a, b in zip(before[name], net.parameters(), strict=True)
        ]
        assert all(changed), f"some {name} parameters were not updated"


def test_discriminator_sees_input_and_output(gray2color):
    recipe = build_recipe(tiny_pix2pix_config(gray2color))
    assert recipe.D.state_dict()["model.0.weight"].shape[1] == 1 + 3


def test_sample_columns(gray2color):
    recipe = build_recipe(tiny_pix2pix_config(gray2color))
    columns = recipe.sample(_batch(recipe))
    assert [c.shape[1] for c in columns] == [1, 3, 3]


def _held_out_l1(generator, root) -> tuple[float, float]:
    data = PairedImageDataset(
        DataConfig(
            root=str(root),
            phase="test",
            preprocess="resize_and_crop",
            load_size=128,
            crop_size=128,
            flip=False,
            num_workers=0,
        ),
        input_nc=1,
        output_nc=3,
    )
    items = [data[(i, 0)] for i in range(len(data))]
    a = torch.stack([x["A"] for x in items])
    b = torch.stack([x["B"] for x in items])
    with torch.no_grad(), paper_test_mode(generator, seeds=list(range(len(items))), dropout=False):
        fake = generator(a)
    mean_image = b.mean(dim=0, keepdim=True)
    return (fake - b).abs().mean().item(), (mean_image - b).abs().mean().item()


@pytest.mark.parametrize("precision,batch_size", [("fp32", 2), ("bf16", 1)])
def test_pix2pix_learns_gray_to_colour(gray2color, tmp_path, precision, batch_size):
    """After 200 steps on real photos, held-out L1 is well below the mean-image baseline.

    The test crops come from regions of the photos that no training crop overlaps. In bf16
    at batch size 1 the CPU's small-grid matrix products run in bf16; on a CPU without native
    bf16 they do not, and emulated bf16 would make this test 5x slower, so it is skipped.
    """
    if precision == "bf16" and not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16 (avx512_bf16 / AMX)")
    config = tiny_pix2pix_config(gray2color, max_steps=200, lr=1e-3, log_every=50,
                                 precision=precision, batch_size=batch_size)
    run, result = train(config, tmp_path)
    generator = load_inference_model(run.path).net
    model_l1, baseline_l1 = _held_out_l1(generator, gray2color)
    untrained_l1, _ = _held_out_l1(build_recipe(config).G, gray2color)
    assert result.step == 200
    assert model_l1 < 0.6 * baseline_l1, (model_l1, baseline_l1)
    assert model_l1 < 0.5 * untrained_l1, (model_l1, untrained_l1)
