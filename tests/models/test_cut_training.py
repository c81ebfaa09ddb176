"""CUT on the shared engine: it learns, resumes exactly (F included, built or not yet), and
takes grayscale input."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from img2img.checkpoints import load_checkpoint
from img2img.config import DataConfig, TrainConfig
from img2img.data.io import LUMA_WEIGHTS, read_image
from img2img.families import run_config
from img2img.families.cut.config import CUTConfig
from img2img.families.cut.description import CUTDescription
from img2img.families.loading import load_inference_model
from img2img.launch import build_recipe, resume, train


def tiny_cut_config(root, model=None, data=None, **train_options):
    """resnet_6blocks with ngf/ndf 8 and 64 patches on 32 px crops, batch 1."""
    options = {"device": "cpu", "batch_size": 1, "n_epochs": 50, "n_epochs_decay": 50,
               "log_every": 5, "sample_every": 10**6, "checkpoint_every": 10**6,
               **train_options}
    return run_config(
        "cut",
        CUTConfig(**{"netG": "resnet_6blocks", "ngf": 8, "ndf": 8, "num_patches": 64,
                     **(model or {})}),
        data=DataConfig(root=str(root), load_size=36, crop_size=32, num_workers=0,
                        **(data or {})),
        train=TrainConfig(**options),
        name="tiny",
    )


def _gray(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA_WEIGHTS, dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(0)


def _structure_error(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean |a * output + b - target| for the best per-image a and b: what is left once each
    image's brightness and contrast are matched (instance norm, the paper's, discards them)."""
    x, y = output.mean(0).flatten(), target.flatten()
    design = torch.stack([x, torch.ones_like(x)], 1)
    fit = torch.linalg.lstsq(design, y[:, None]).solution
    return float((design @ fit - y[:, None]).abs().mean())


def _held_out_error(model, root) -> float:
    """The structure error of G(A) against gray(A) over the test A images (their hidden
    ground truth)."""
    errors = []
    for path in sorted((root / "testA").glob("*.png")):
        image = read_image(path)
        with torch.no_grad():
            out = model.decode(model.run(model.encode(image[None]), [path.name]))[0]
        errors.append(_structure_error(out.clamp(0, 1), _gray(image)))
    return sum(errors) / len(errors)


def test_cut_learns_colour_to_gray_without_pairs(color2gray, tmp_path):
    """96 steps on unpaired real photos with the paper's CUT settings (instance norm, LSGAN,
    NCE 1 with the identity term, xavier init): NCE falls and the held-out error beats the best
    constant image (the mean training B image) and the untrained generator."""
    config = tiny_cut_config(color2gray, lr=1e-3, batch_size=4, max_steps=96, log_every=24)
    run, result = train(config, tmp_path)
    assert result.step == 96
    model = load_inference_model(run.path)
    untrained = CUTDescription.inference_model(config, build_recipe(config).nets)
    trained_error, untrained_error = (_held_out_error(model, color2gray),
                                      _held_out_error(untrained, color2gray))
    targets = [read_image(p) for p in sorted((color2gray / "testA").glob("*.png"))]
    mean_b = torch.stack([read_image(p) for p in (color2gray / "trainB").glob("*.png")]).mean(0)
    constant_error = sum(_structure_error(mean_b, _gray(t)) for t in targets) / len(targets)
    assert trained_error < 0.75 * constant_error, (trained_error, constant_error)
    assert trained_error < 0.75 * untrained_error, (trained_error, untrained_error)
    metrics = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    first, last = metrics[0], metrics[-1]
    for key in ("NCE", "NCE_Y"):
        assert last[key] < 0.85 * first[key], (key, first[key], last[key])


@pytest.mark.parametrize("mode", ["cut", "fastcut"])
def test_resume_continues_exactly_with_the_projection_head(color2gray, tmp_path, mode):
    """Mid-epoch: G, D, F, their three optimizers, the flips and the sampled patches carry
    over."""
    def config(steps):  # 4 images, batch 2: 2 steps per epoch
        return tiny_cut_config(color2gray, {"cut_mode": mode}, {"max_dataset_size": 4},
                               batch_size=2, max_steps=steps)

    total, split = 5, 3
    straight, _ = train(config(total), tmp_path / "a")
    halves, first = train(config(split), tmp_path / "b")
    assert first.step == split
    _, second = resume(halves.path, {"max_steps": total})
    assert second.step == total
    expected, got = load_checkpoint(straight.path), load_checkpoint(halves.path)
    assert set(expected["nets"]) == {"G", "D", "F"}
    assert set(expected["optimizers"]) == {"G", "D", "F"}
    assert any(k.startswith("mlp_4.") for k in expected["nets"]["F"])
    for net in expected["nets"]:
        for key, value in expected["nets"][net].items():
            assert torch.equal(value, got["nets"][net][key]), f"{net}.{key} differs after resume"
    for key, value in expected["optimizers"]["F"]["state"].items():
        assert torch.equal(value["exp_avg"], got["optimizers"]["F"]["state"][key]["exp_avg"])


def _batch(root, seed: int) -> dict[str, torch.Tensor]:
    config = tiny_cut_config(root)
    dataset = CUTDescription.build_dataset(config)
    torch.manual_seed(seed)
    samples = [dataset[i] for i in range(2)]
    return {k: torch.stack([s[k] for s in samples]) for k in ("A", "B")}


def test_a_recipe_loads_a_state_whose_projection_head_it_has_not_built(color2gray):
    """A process resuming has seen no batch yet: F's MLPs and optimizer come from the saved
    shapes; a state saved before F existed loads too, and F is then made at the next step.
    Either way the next step equals the one the saving recipe takes."""
    config = tiny_cut_config(color2gray)
    batch = _batch(color2gray, 0)
    saver = build_recipe(config)
    unbuilt_state = saver.state_dict()
    assert unbuilt_state["nets"]["F"] == {} and "F" not in unbuilt_state["optimizers"]
    for state_before in (unbuilt_state, None):
        if state_before is None:
            saver.train_step(batch)
            state_before = saver.state_dict()
        loader = build_recipe(config)
        loader.load_state_dict(copy.deepcopy(state_before))  # as from a file: no shared moments
        assert set(loader.optimizers) == set(saver.optimizers)
        rng = torch.get_rng_state()
        saver.train_step(batch)
        torch.set_rng_state(rng)
        loader.train_step(batch)
        for name, net in saver.nets.items():
            for key, value in net.state_dict().items():
                assert torch.equal(value, loader.nets[name].state_dict()[key]), (name, key)
        assert loader.schedulers["F"].last_epoch == loader.schedulers["G"].last_epoch


@pytest.mark.parametrize(("input_nc", "output_nc"), [(1, 3), (1, 1), (3, 1)])
def test_grayscale_images_train_and_translate(color2gray, tmp_path, input_nc, output_nc):
    """The reference fails on --input-nc 1 (its loader reads RGB) and wherever G reads its own
    outputs of other channels; here G reads them converted (luma, or the gray repeated)."""
    config = tiny_cut_config(color2gray, {"input_nc": input_nc, "output_nc": output_nc},
                             max_steps=2)
    run, result = train(config, tmp_path)
    assert result.step == 2
    model = load_inference_model(run.path)
    image = read_image(next((color2gray / "testA").glob("*.png")), channels=input_nc)
    with torch.no_grad():
        encoded = model.encode(image[None])
        assert encoded.shape[1] == input_nc
        out = model.decode(model.run(encoded, ["x"]))
    assert out.shape[1] == output_nc and torch.isfinite(out).all()
