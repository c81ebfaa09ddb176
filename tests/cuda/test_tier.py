"""Every family trains on CUDA in bf16 and fp16; compiled, channels-last and CPU results agree
with eager, contiguous and CUDA ones within stated tolerances.

Tiny networks (ngf/ndf 8) on one fixed batch, so the whole tier runs in seconds on a GPU.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.families import get_family, run_config
from img2img.launch import build_recipe

#: a loss term each family's training drives down on a fixed batch
LEARNED_TERM = {"pix2pix": "G_L1", "cyclegan": "cycle_A", "cut": "NCE",
                "pix2pixhd": "G_GAN_Feat"}
#: steps of the learning test; the mean of the term over the last 5 must fall below
#: LEARNED_FRACTION of its first value
LEARNING_STEPS, LEARNED_FRACTION = 40, 0.8
LABEL_NC = 8


def tiny_config(family: str, device: torch.device, **train) -> RunConfig:
    """``family`` at test size: ngf/ndf 8; 32x32 images (pix2pixHD: 64x128 label maps)."""
    model = get_family(family).config()
    small = {"ngf": 8, "ndf": 8, "netG": "resnet_6blocks", "num_patches": 64,
             "n_blocks_global": 2, "label_nc": LABEL_NC, "vgg_loss": False,
             "dropout": False}  # a dropout mask follows the memory format: no equal runs
    if family == "pix2pixhd":
        small["netG"] = "global"
    model = dataclasses.replace(model, **{k: v for k, v in small.items() if hasattr(model, k)})
    data = (DataConfig(root=".", preprocess="scale_width", load_size=128, crop_size=64)
            if family == "pix2pixhd" else DataConfig(root=".", load_size=32, crop_size=32))
    return run_config(family, model, data=data,
                      train=TrainConfig(device=str(device), batch_size=2, **train), name="tier")


def tiny_batch(family: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A fixed batch of 2 (CPU tensors, as the data loader gives them)."""
    g = torch.Generator().manual_seed(seed)
    if family != "pix2pixhd":
        a = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
        return {"A": a, "B": a.flip(-1).roll(1, dims=1)}  # B: A mirrored, channels rotated
    blocks = torch.randint(0, LABEL_NC, (2, 1, 4, 8), generator=g)
    labels = blocks.repeat_interleave(16, 2).repeat_interleave(16, 3)
    image = (labels.float() / (LABEL_NC - 1) * 2 - 1).expand(2, 3, 64, 128).contiguous()
    return {"label": labels, "instance": labels.clone(), "image": image}


FAMILIES = ["pix2pix", "cyclegan", "cut", "pix2pixhd"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("family", FAMILIES)
def test_mixed_precision_steps_are_finite_and_learn(family, precision, device):
    torch.manual_seed(0)
    recipe = build_recipe(tiny_config(family, device, precision=precision, lr=2e-3))
    assert (recipe.precision.scaler is not None) == (precision == "fp16")  # GradScaler
    batch = tiny_batch(family)
    term = []
    for step in range(LEARNING_STEPS):
        losses = recipe.train_step(batch)
        values = {k: float(v) for k, v in losses.items()}
        assert all(torch.isfinite(torch.tensor(list(values.values())))), (step, values)
        term.append(values[LEARNED_TERM[family]])
    assert sum(term[-5:]) / 5 < LEARNED_FRACTION * term[0], (family, precision, term)
    for net in recipe.nets.values():
        assert all(torch.isfinite(p).all() for p in net.parameters())


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_compiled_and_eager_agree(family, device):
    """fp32 without TF32: the same weights, compiled (inductor) and eager, within 1e-4."""
    x = tiny_batch(family)["A"]
    key = "G" if family == "pix2pix" else "G_A"
    outputs = []
    for compiled in (False, True):
        torch.manual_seed(0)
        recipe = build_recipe(tiny_config(family, device, tf32=False, compile=compiled))
        net = recipe.nets[key].eval()
        with torch.no_grad():
            outputs.append(net(x.to(recipe.device)).float().cpu())
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_channels_last_agrees(family, device):
    """fp32 without TF32, from the same weights, channels-last or not: the first step's losses
    within 1e-4 relative, the second's within 1e-3 (Adam's first updates are about the
    learning rate wherever a gradient is not zero, so its sign decides), and the generator's
    output after them within 2e-3."""
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        recipe = build_recipe(tiny_config(family, device, tf32=False,
                                          channels_last=channels_last))
        batch = tiny_batch(family)
        losses = [{k: float(v) for k, v in recipe.train_step(batch).items()} for _ in range(2)]
        generator = recipe.nets["G" if "G" in recipe.nets else "G_A"]
        stream = "label" if family == "pix2pixhd" else "A"
        with torch.no_grad():
            x = batch[stream]
            if family == "pix2pixhd":
                from img2img.families.pix2pixhd.inference import encode_labels

                x = encode_labels(x, batch["instance"], recipe.config.model)
            out = generator.eval()(x.to(recipe.device)).float().cpu()
        results.append((losses, out))
    (losses, out), (losses_cl, out_cl) = results
    assert losses_cl[0] == pytest.approx(losses[0], rel=1e-4, abs=1e-6)
    assert losses_cl[1] == pytest.approx(losses[1], rel=1e-3, abs=1e-5)
    torch.testing.assert_close(out_cl, out, rtol=0, atol=2e-3)


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("bf16", 0.06)])
def test_translate_on_the_device_matches_the_cpu(precision, tolerance, device):
    """The translate path (inference model: eval mode, CPU-only paths on the CPU, plain layers
    on the device) gives the CPU's output within ``tolerance`` (outputs in [-1, 1]): fp32
    without TF32 within 1e-4; bf16 within 0.06 (8-bit mantissa through 6 residual blocks)."""
    config = tiny_config("pix2pix", device, tf32=False, precision=precision)
    torch.manual_seed(0)
    recipe = build_recipe(config)  # sets TF32 off, as img2img train does with --no-tf32
    description = get_family("pix2pix").description_class()
    x = tiny_batch("pix2pix")["A"]
    outputs = []
    for where in (torch.device("cpu"), recipe.device):
        net = recipe.nets["G"].to(where)
        model = description.inference_model(config, {"G": net}, test_mode="eval")
        with torch.no_grad(), torch.autocast(where.type, torch.bfloat16,
                                             enabled=precision == "bf16"):
            outputs.append(model.run(x.to(where), ["0", "1"]).float().cpu())
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=tolerance)
