"""CycleGAN on the shared engine: exact resume with the image pools, and that it learns."""

from __future__ import annotations

import json

import torch

from img2img.checkpoints import load_checkpoint
from img2img.config import DataConfig, TrainConfig
from img2img.data.io import LUMA_WEIGHTS, read_image
from img2img.families import run_config
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.cyclegan.description import CycleGANDescription
from img2img.families.loading import load_inference_model
from img2img.launch import build_recipe, resume, train


def tiny_cyclegan_config(root, model=None, data=None, **train_options):
    """resnet_6blocks with ngf/ndf 8 on 32 px crops of the 32 px images, batch 1."""
    options = {"device": "cpu", "batch_size": 1, "n_epochs": 50, "n_epochs_decay": 50,
               "log_every": 5, "sample_every": 10**6, "checkpoint_every": 10**6,
               **train_options}
    return run_config(
        "cyclegan",
        CycleGANConfig(netG="resnet_6blocks", ngf=8, ndf=8, **(model or {})),
        data=DataConfig(root=str(root), load_size=36, crop_size=32, num_workers=0,
                        **(data or {})),
        train=TrainConfig(**options),
        name="tiny",
    )


def test_resume_continues_exactly_with_the_pools(color2gray, tmp_path):
    """Mid-epoch (the engine's tests cover epoch boundaries): the four networks, both
    optimizers and both pools' images and random draws carry over."""
    split = 3
    def config(steps):  # 4 images, batch 2: 2 steps per epoch; pools fill at step 1
        return tiny_cyclegan_config(color2gray, {"pool_size": 2}, {"max_dataset_size": 4},
                                    batch_size=2, max_steps=steps)

    total = 7
    straight, _ = train(config(total), tmp_path / "a")
    halves, first = train(config(split), tmp_path / "b")
    assert first.step == split
    _, second = resume(halves.path, {"max_steps": total})
    assert second.step == total
    expected, got = load_checkpoint(straight.path), load_checkpoint(halves.path)
    assert set(expected["nets"]) == {"G_A", "G_B", "D_A", "D_B"}
    for net in expected["nets"]:
        for key, value in expected["nets"][net].items():
            assert torch.equal(value, got["nets"][net][key]), f"{net}.{key} differs after resume"
    pools = got["rank_states"][0]["image_pools"]
    for name, pool in expected["rank_states"][0]["image_pools"].items():
        assert len(pool["images"]) == 2
        for image, other in zip(pool["images"], pools[name]["images"],
                                strict=True):
            assert torch.equal(image, other), f"pool {name} differs after resume"
    assert expected["epoch"] == got["epoch"] == 3


def _gray(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA_WEIGHTS, dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(0, keepdim=True).expand(3, -1, -1)


def _held_out_error(model, root) -> float:
    """Mean |G_A(A) - gray(A)| in [0, 1] over the test A images (their hidden ground truth)."""
    errors = []
    for path in sorted((root / "testA").glob("*.png")):
        image = read_image(path)
        with torch.no_grad():
            out = model.decode(model.run(model.encode(image[None]), [path.name]))[0]
        errors.append(float((out.clamp(0, 1) - _gray(image)).abs().mean()))
    return sum(errors) / len(errors)


def test_cyclegan_learns_colour_to_gray_without_pairs(color2gray, tmp_path):
    """48 steps on unpaired real photos: cycle losses fall, held-out error beats baselines.

    The baselines are the best constant image (the mean training B image) and the untrained
    generator. The tiny networks use batch norm: instance norm (the paper's) discards each
    image's brightness and contrast, which networks this small do not learn to restore in a
    few dozen steps; everything else is CycleGAN's defaults (LSGAN, cycle 10, identity 0.5,
    pools of 50).
    """
    config = tiny_cyclegan_config(color2gray, {"norm": "batch"}, lr=1e-3, batch_size=4,
                                  max_steps=48, log_every=12)
    run, result = train(config, tmp_path)
    assert result.step == 48
    model = load_inference_model(run.path)
    untrained = CycleGANDescription.inference_model(config, build_recipe(config).nets)
    trained_error, untrained_error = _held_out_error(model, color2gray), _held_out_error(
        untrained, color2gray)
    targets = [read_image(p) for p in sorted((color2gray / "testA").glob("*.png"))]
    mean_b = torch.stack([read_image(p) for p in (color2gray / "trainB").glob("*.png")]).mean(0)
    constant_error = sum(float((mean_b - _gray(t)).abs().mean()) for t in targets) / len(targets)
    assert trained_error < 0.7 * constant_error, (trained_error, constant_error)
    assert trained_error < 0.7 * untrained_error, (trained_error, untrained_error)
    metrics = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    first, last = metrics[0], metrics[-1]
    for key in ("cycle_A", "cycle_B"):
        assert last[key] < 0.85 * first[key], (key, first[key], last[key])
