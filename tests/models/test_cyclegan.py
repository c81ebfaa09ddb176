"""CycleGAN: the image pool, one training step, the inference model in both directions."""

from __future__ import annotations

import pytest
import torch

from img2img.config import ConfigError, DataConfig, TrainConfig
from img2img.families import run_config
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.cyclegan.description import CycleGANDescription
from img2img.families.cyclegan.training import ImagePool
from img2img.families.pix2pix.description import Pix2PixDescription
from img2img.launch import build_recipe
from tests.conftest import tiny_pix2pix_config


def _images(count: int, seed: int, size: int = 4) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_pool_returns_new_images_until_full_then_mixes_old_ones():
    pool = ImagePool(4, seed=0)
    first = _images(4, 0)
    assert torch.equal(pool.query(first), first) and len(pool) == 4
    seen_old = seen_new = 0
    for step in range(20):
        new = _images(2, step + 1)
        out = pool.query(new)
        assert out.shape == new.shape and len(pool) == 4
        for returned, fresh in zip(out, new, strict=True):
            if torch.equal(returned, fresh):
                seen_new += 1
            else:
                seen_old += 1
                assert not any(torch.equal(returned, stored) for stored in pool.images)
    assert seen_old > 5 and seen_new > 5  # about half of each


def test_pool_of_size_zero_passes_images_through():
    pool = ImagePool(0)
    images = _images(3, 0)
    assert pool.query(images) is images and len(pool) == 0


def test_pool_state_resumes_the_same_draws():
    pool = ImagePool(3, seed=5)
    for step in range(4):
        pool.query(_images(2, step))
    copy = ImagePool(3, seed=99)
    copy.load_state_dict(pool.state_dict(), torch.device("cpu"))
    for step in range(4, 10):
        assert torch.equal(pool.query(_images(2, step)), copy.query(_images(2, step)))


def test_identity_loss_needs_equal_channels():
    with pytest.raises(ConfigError, match="lambda_identity: 0.5 needs as many input as output"):
        CycleGANConfig(input_nc=1, output_nc=3)
    assert CycleGANConfig(input_nc=1, output_nc=3, lambda_identity=0).input_nc == 1


def _config(**model):
    options = {"netG": "resnet_6blocks", "ngf": 4, "ndf": 4, "pool_size": 2, **model}
    return run_config(
        "cyclegan", CycleGANConfig(**options),
        data=DataConfig(root=".", load_size=32, crop_size=32, num_workers=0),
        train=TrainConfig(device="cpu", batch_size=2), name="t",
    )


def test_a_step_updates_all_four_networks_and_reports_the_reference_losses():
    recipe = build_recipe(_config())
    before = {name: [p.detach().clone() for p in net.parameters()]
              for name, net in recipe.nets.items()}
    batch = {"A": _images(2, 0, 32) * 2 - 1, "B": _images(2, 1, 32) * 2 - 1}
    losses = recipe.train_step(batch)
    assert set(losses) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    for name, net in recipe.nets.items():
        changed = [not torch.equal(a, b) for a, b in zip(before[name], net.parameters(),
                                                        strict=True)]
        assert all(changed), f"{name}: parameters left unchanged by a step"
    assert [len(pool) for pool in recipe.pools.values()] == [2, 2]
    assert len(recipe.sample(batch)) == 6


def test_pools_are_saved_per_process_and_older_checkpoints_still_load_them():
    recipe = build_recipe(_config())
    recipe.train_step({"A": _images(2, 0, 32) * 2 - 1, "B": _images(2, 1, 32) * 2 - 1})
    saved = recipe.rank_state()["image_pools"]
    assert recipe.extra_state() == {}  # shared state only; the pools are each process's own
    for load in ("load_rank_state", "load_extra_state"):  # extra: files with rank 0's only
        fresh = build_recipe(_config())
        getattr(fresh, load)({"image_pools" if load == "load_rank_state" else "pools": saved})
        for name, pool in recipe.pools.items():
            assert all(torch.equal(a, b) for a, b in
                       zip(pool.images, fresh.pools[name].images, strict=True)), load
            assert torch.equal(pool.generator.get_state(), fresh.pools[name].generator.get_state())
    with pytest.raises(ValueError, match=r"lacks image pools \['fake_A', 'fake_B'\]"):
        build_recipe(_config()).load_rank_state({})


def test_without_identity_loss_it_is_zero_and_channels_may_differ():
    recipe = build_recipe(_config(input_nc=1, output_nc=3, lambda_identity=0.0))
    batch = {"A": _images(2, 0, 32)[:, :1], "B": _images(2, 1, 32)}
    losses = recipe.train_step(batch)
    assert losses["idt_A"] == 0 and losses["idt_B"] == 0
    columns = recipe.sample(batch)
    assert [c.shape[1] for c in columns] == [1, 3, 1, 3, 1, 3]


def test_inference_model_picks_the_generator_of_the_direction():
    config = _config(input_nc=1, output_nc=3, lambda_identity=0.0)
    recipe = build_recipe(config)
    forward = CycleGANDescription.inference_model(config, recipe.nets)
    backward = CycleGANDescription.inference_model(config, recipe.nets, direction="BtoA")
    assert forward.net is recipe.G_A and (forward.in_channels, forward.out_channels) == (1, 3)
    assert backward.net is recipe.G_B and (backward.in_channels, backward.out_channels) == (3, 1)
    assert forward.test_mode == "eval" and "direction BtoA" in backward.describe_mode()
    with pytest.raises(ValueError, match="direction: 'CtoD' is not valid"):
        CycleGANDescription.inference_model(config, recipe.nets, direction="CtoD")
    pix2pix = tiny_pix2pix_config(".")
    with pytest.raises(ValueError, match="--direction: not used by pix2pix models"):
        Pix2PixDescription.inference_model(pix2pix, {"G": recipe.G_A}, direction="BtoA")


def test_each_process_draws_its_own_pool_swaps():
    ranks = [build_recipe(_config()) for _ in range(3)]
    for rank, recipe in enumerate(ranks[1:], start=1):
        recipe.seed_rank(rank)
    draws = [[torch.rand(4, generator=pool.generator).tolist() for pool in r.pools.values()]
             for r in ranks]
    assert draws[0][0] != draws[0][1]  # the two pools of one process differ
    assert len({str(d) for d in draws}) == 3  # and so do the processes
    rerun = build_recipe(_config())
    rerun.seed_rank(2)
    assert [torch.rand(4, generator=p.generator).tolist() for p in rerun.pools.values()] \
        == draws[2]


@pytest.mark.parametrize("norm, words", [
    ("instance", "eval (each image's own statistics: its normalisation keeps no running "
                 "statistics; no dropout)"),
    ("batch", "eval (running statistics, no dropout)"),
])
def test_eval_mode_is_described_by_what_the_norm_keeps(norm, words):
    config = _config(norm=norm)
    recipe = build_recipe(config)
    model = CycleGANDescription.inference_model(config, recipe.nets)
    assert model.describe_mode().startswith(words)
