"""The paper's test mode: per-image statistics and per-image seeded dropout."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch
from torch import nn

from img2img.infer.stochastic import batch_invariant, image_seed, paper_test_mode
from img2img.models.inference import InferenceModel, cpu_inference
from img2img.nn.cpu_fast import FastConv2d, FastConvTranspose2d, cpu_fast_path, use_cpu_fast_path

SEEDS = [image_seed(7, f"folder/img_{i}.png") for i in range(8)]


def _module_layout(net: nn.Module) -> list[tuple[str, type, int]]:
    return [(name, type(m), id(m)) for name, m in net.named_modules()]


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def _run(net: nn.Module, x: torch.Tensor, seeds: list[int] | None, dropout: bool = True,
         fast: bool = False):
    with torch.inference_mode(), paper_test_mode(net, seeds, dropout=dropout):
        if fast:
            with cpu_fast_path(net):
                return net(x.clone())
        return net(x.clone())


def test_image_seed_is_stable_63_bit_and_distinct() -> None:
    assert image_seed(0, "a/b.png") == 6772485890950225128  # pinned: must not change
    values = {image_seed(s, k) for s in (0, 1, 2) for k in ("a.png", "b.png", "sub/a.png")}
    assert len(values) == 9
    assert all(0 <= v < 2**63 for v in values)
    assert image_seed(3, "x.png") == image_seed(3, "x.png")


def test_batch_of_one_equals_batchnorm_training_mode(unet128: nn.Module) -> None:
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    reference = copy.deepcopy(unet128).train()
    for module in reference.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    with torch.no_grad():
        expected = reference(x.clone())
    ours = _run(unet128, x, SEEDS[:1], dropout=False)
    assert torch.equal(ours, expected)
    with torch.inference_mode():  # the eval-mode (running statistics) result is far away
        assert not torch.allclose(unet128(x.clone()), expected, atol=1e-2)


def test_running_statistics_and_weights_untouched(unet128: nn.Module) -> None:
    before = _state(unet128)
    unet128.train()  # even in training mode nothing is updated
    _run(unet128, torch.rand(2, 3, 128, 128), SEEDS[:2])
    after = unet128.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_modules_restored_on_exit_and_on_error(unet128: nn.Module) -> None:
    layout = _module_layout(unet128)
    with paper_test_mode(unet128, SEEDS[:1]):
        inside = _module_layout(unet128)
        assert inside != layout
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) and name.count(".") == 0
                       for name, m in unet128.named_modules())
    assert _module_layout(unet128) == layout
    with pytest.raises(RuntimeError, match="boom"), paper_test_mode(unet128, SEEDS[:1]):
        raise RuntimeError("boom")
    assert _module_layout(unet128) == layout


@pytest.mark.parametrize(("name", "size", "fast"), [
    ("unet_128", 128, False), ("resnet_6blocks", 32, False),  # torch's layers
    ("unet_128", 128, True), ("resnet_6blocks", 32, True),  # the CPU fast path, as translate
    ("unet_256", 256, True), ("resnet_9blocks", 24, True),
])
def test_batch_of_8_equals_8_batches_of_1_exactly(
    name: str, size: int, fast: bool, make_generator: Callable[..., nn.Module]
) -> None:
    net = make_generator(name)
    x = torch.rand(8, 3, size, size) * 2 - 1
    batched = _run(net, x, SEEDS, fast=fast)
    singles = torch.cat([_run(net, x[i : i + 1], SEEDS[i : i + 1], fast=fast) for i in range(8)])
    assert torch.equal(batched, singles)
    if fast:  # the CPU fast path: channels-last, other rounding than torch's layers
        assert batched.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(batched, _run(net, x, SEEDS), rtol=1e-4, atol=1e-4)


def test_channels_last_batch_norm_is_training_mode_per_image() -> None:
    bn = nn.BatchNorm2d(16).eval()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1.0, 1.0)
    x = (torch.randn(5, 16, 9, 7) * 3 + 1).contiguous(memory_format=torch.channels_last)
    net = nn.Sequential(nn.Identity(), bn)
    ours = _run(net, x, None, dropout=False)
    assert ours.is_contiguous(memory_format=torch.channels_last)
    for i in range(5):
        with torch.no_grad():
            expected = nn.functional.batch_norm(x[i : i + 1], None, None, bn.weight, bn.bias,
                                                training=True, eps=bn.eps)
        assert torch.equal(ours[i : i + 1], expected)


def test_channels_last_batch_norm_of_bf16_activations() -> None:
    """bf16 activations (the CPU fast path under bf16 autocast) with the layer's fp32 affine
    parameters: bf16 out, each image normalised with its own statistics."""
    bn = nn.BatchNorm2d(16).eval()
    x = (torch.randn(3, 16, 9, 7) * 3 + 1).to(torch.bfloat16).contiguous(
        memory_format=torch.channels_last)
    ours = _run(nn.Sequential(nn.Identity(), bn), x, None, dropout=False)
    assert ours.dtype == torch.bfloat16
    for i in range(3):
        with torch.no_grad():
            expected = nn.functional.batch_norm(x[i : i + 1].float(), None, None, bn.weight,
                                                bn.bias, training=True, eps=bn.eps)
        torch.testing.assert_close(ours[i : i + 1].float(), expected, rtol=0.0, atol=0.05)


def test_order_and_neighbours_do_not_matter(unet128: nn.Module) -> None:
    x = torch.rand(8, 3, 128, 128) * 2 - 1
    batched = _run(unet128, x, SEEDS)
    order = [5, 2, 7, 0, 3, 1, 6, 4]
    shuffled = _run(unet128, x[order], [SEEDS[i] for i in order])
    assert torch.equal(shuffled, batched[order])
    others = torch.rand(3, 3, 128, 128)  # image 4 among new neighbours
    mixed = _run(unet128, torch.cat([others[:2], x[4:5], others[2:]]),
                 [1, 2, SEEDS[4], 3])
    assert torch.equal(mixed[2], batched[4])


def test_dropout_changes_the_output_and_seeds_matter(unet128: nn.Module) -> None:
    x = (torch.rand(1, 3, 128, 128) * 2 - 1).expand(2, -1, -1, -1)
    on = _run(unet128, x, [11, 12])
    off = _run(unet128, x, [11, 12], dropout=False)
    assert not torch.allclose(on[0], off[0], atol=1e-4)  # dropout on changes the output
    assert not torch.allclose(on[0], on[1], atol=1e-4)  # different seeds, different outputs
    assert torch.equal(off[0], off[1])  # without dropout the seed is irrelevant
    assert torch.equal(_run(unet128, x, [11, 12]), on)  # same seeds, same result


def test_dropout_mask_rate_scale_and_per_image_stream() -> None:
    net = nn.Sequential(nn.Identity(), nn.Dropout(0.25))
    x = torch.ones(3, 4, 64, 64)
    y = _run(net, x, [1, 2, 3])
    assert torch.allclose(torch.unique(y), torch.tensor([0.0, 1 / 0.75]))
    assert abs((y == 0).float().mean().item() - 0.25) < 0.02
    assert torch.equal(_run(net, x[1:2], [2])[0], y[1])
    assert not torch.equal(y[0], y[1])


def test_shared_layers_and_inner_modules_are_all_swapped() -> None:
    bn = nn.BatchNorm2d(2)
    net = nn.Sequential(bn, nn.Sequential(nn.Conv2d(2, 2, 1), bn))
    x = torch.randn(2, 2, 8, 8) * 3 + 1
    y = _run(net, x, None, dropout=False)
    expected = nn.functional.instance_norm(net[1][0](nn.functional.instance_norm(x)))
    assert torch.allclose(y, expected, atol=1e-5)
    assert net[0] is bn and net[1][1] is bn


def test_misuse_is_reported(unet128: nn.Module) -> None:
    with pytest.raises(ValueError, match="3 seeds for a batch of 2"):
        _run(unet128, torch.rand(2, 3, 128, 128), [1, 2, 3])
    with pytest.raises(RuntimeError, match="already active"), paper_test_mode(unet128, [1]), \
            paper_test_mode(unet128, [1]):
        pass
    with pytest.raises(ValueError, match="bare BatchNorm2d"), paper_test_mode(nn.BatchNorm2d(3)):
        pass


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layer", [
    nn.Conv2d(16, 8, 3, padding=1),  # 3x3 on a small image: another kernel at batch size 1
    nn.Conv2d(16, 8, 3, stride=2, padding=1),
    nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),
    nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1),
    nn.Conv2d(16, 8, 1),  # 1x1: another kernel at batch size 1 when single-threaded
    nn.Conv2d(16, 8, 7, padding=3),
], ids=["conv3", "conv3s2", "deconv3", "deconv4", "conv1", "conv7"])
def test_batch_invariant_convolutions(layer: nn.Module, threads: int) -> None:
    net = nn.Sequential(layer)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for size in (8, 32, 48):  # native kernel for one image; oneDNN blocking by batch size
            x = torch.randn(8, 16, size, size)
            with torch.inference_mode(), batch_invariant(net):
                batched = net(x)
                singles = torch.cat([net(x[i : i + 1]) for i in range(8)])
            assert torch.equal(batched, singles), size
            assert torch.allclose(batched, layer(x), atol=1e-5)
    finally:
        torch.set_num_threads(previous)
    assert net[0] is layer


def test_batch_invariant_leaves_other_layers_alone(unet128: nn.Module) -> None:
    layout = _module_layout(unet128)
    with batch_invariant(unet128):
        kinds = {type(m).__name__ for m in unet128.modules()}
        assert "BatchNorm2d" in kinds and "Dropout" in kinds
        assert not any(type(m) in (nn.Conv2d, nn.ConvTranspose2d)
                       and not type(parent).__name__.endswith("Conv")
                       for parent in unet128.modules() for m in parent.children())
        with pytest.raises(RuntimeError, match="already active"), \
                paper_test_mode(unet128, [1]):
            pass
    assert _module_layout(unet128) == layout


class _BatchDependentConv(nn.Conv2d):
    """A convolution whose rounding depends on the batch size, as oneDNN's may; counts calls."""

    def __init__(self) -> None:
        super().__init__(3, 2, 3, padding=1)
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        return super().forward(x) + 1e-6 * (x.shape[0] > 1)


class _ExactConv(nn.Conv2d):
    """A convolution that treats a batch exactly as its images; counts calls."""

    def __init__(self) -> None:
        super().__init__(3, 2, 3, padding=1)
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        return torch.cat([super(_ExactConv, self).forward(image[None]) for image in x])


def _batched_and_singles(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode(), batch_invariant(net):
        return net(x), torch.cat([net(x[i : i + 1]) for i in range(x.shape[0])])


def test_a_batch_that_rounds_differently_runs_image_by_image() -> None:
    conv = _BatchDependentConv()
    x = torch.randn(4, 3, 5, 7)
    assert not torch.equal(conv(x), torch.cat([conv(x[i : i + 1]) for i in range(4)]))
    conv.batch_sizes.clear()
    batched, singles = _batched_and_singles(nn.Sequential(conv), x)
    assert torch.equal(batched, singles)
    assert conv.batch_sizes == [4, 1, 1, 1, 1] + [1] * 4 + [1] * 4  # probe, batch, singles
    _batched_and_singles(nn.Sequential(conv), x)  # the verdict is kept: no second probe
    assert conv.batch_sizes[13:] == [1] * 8


def test_an_exact_batch_keeps_running_whole() -> None:
    conv = _ExactConv()
    x = torch.randn(4, 3, 6, 9)
    batched, singles = _batched_and_singles(nn.Sequential(conv), x)
    assert torch.equal(batched, singles)
    assert conv.batch_sizes == [4, 1, 1, 1, 1] + [4] + [1] * 4  # probe, then the whole batch
    same_shape, other_shape = torch.randn(4, 3, 6, 9), torch.randn(2, 3, 5, 5)
    rng = torch.get_rng_state()
    _batched_and_singles(nn.Sequential(conv), same_shape)  # the verdict is kept
    assert conv.batch_sizes[10:] == [4] + [1] * 4
    _batched_and_singles(nn.Sequential(conv), other_shape)  # a new shape is probed
    assert conv.batch_sizes[15:] == [2, 1, 1] + [2] + [1] * 2
    assert torch.equal(torch.get_rng_state(), rng)  # probes never touch the global generator


def test_fast_path_layers_are_wrapped_too(unet128: nn.Module) -> None:
    net = use_cpu_fast_path(unet128)
    with batch_invariant(net):
        assert not any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
                       and not type(parent).__name__.endswith("Conv")
                       for parent in net.modules() for m in parent.children())
    x = torch.rand(4, 3, 128, 128) * 2 - 1
    batched = _run(net, x, SEEDS[:4])
    singles = torch.cat([_run(net, x[i : i + 1], SEEDS[i : i + 1]) for i in range(4)])
    assert torch.equal(batched, singles)


def test_paper_mode_leaves_convolutions_to_batch_invariant_when_asked(unet128: nn.Module) -> None:
    layout = _module_layout(unet128)
    with paper_test_mode(unet128, [1], convolutions=False):
        kinds = {type(m) for m in unet128.modules()}
        assert {nn.Conv2d, nn.ConvTranspose2d} <= kinds and nn.BatchNorm2d in kinds
        assert not any(type(parent).__name__.endswith("Conv") for parent in unet128.modules())
    assert _module_layout(unet128) == layout
    x = torch.rand(4, 3, 128, 128) * 2 - 1
    with torch.inference_mode(), batch_invariant(unet128), \
            paper_test_mode(unet128, SEEDS[:4], convolutions=False):
        composed = unet128(x.clone())
    assert torch.equal(composed, _run(unet128, x, SEEDS[:4]))  # what one paper_test_mode gives
    assert _module_layout(unet128) == layout


@pytest.mark.parametrize("device", ["cuda", "mps", "meta"])
def test_cpu_inference_leaves_other_devices_plain(unet128: nn.Module, device: str) -> None:
    layout = _module_layout(unet128)
    with cpu_inference(unet128, torch.device(device)) as net:
        assert net is unet128 and _module_layout(unet128) == layout
    assert _module_layout(unet128) == layout


def test_cpu_inference_takes_the_cpu_paths_on_the_cpu(unet128: nn.Module) -> None:
    layout = _module_layout(unet128)
    with cpu_inference(unet128, "cpu"):
        wrappers = [m for m in unet128.modules() if type(m).__name__ == "_ImageByImageConv"]
        assert wrappers and {type(m.conv) for m in wrappers} == {FastConv2d, FastConvTranspose2d}
        assert not any(type(m) in (nn.Conv2d, nn.ConvTranspose2d) for m in unet128.modules())
    assert _module_layout(unet128) == layout


def _layers_while_running(model: InferenceModel, device: str) -> set[type]:
    """The classes of the network's modules while ``model.run`` computes a batch on ``device``."""
    seen: set[type] = set()
    hook = model.net.register_forward_pre_hook(
        lambda net, _: seen.update(type(m) for m in net.modules()))
    try:
        with torch.inference_mode():
            model.to(device).run(torch.zeros(2, 3, 128, 128, device=device), ["a", "b"])
    finally:
        hook.remove()
    return seen


@pytest.mark.parametrize("test_mode", ["paper", "eval"])
def test_inference_runs_the_plain_network_off_the_cpu(unet128: nn.Module, test_mode: str) -> None:
    model = InferenceModel(unet128, "pix2pix", "unet_128", 3, 3, test_mode=test_mode,
                           dropout=False)
    cpu_only = {FastConv2d, FastConvTranspose2d}
    on_cpu = _layers_while_running(model, "cpu")
    assert cpu_only <= on_cpu and "_ImageByImageConv" in {c.__name__ for c in on_cpu}
    on_meta = _layers_while_running(model, "meta")  # a device that is not the CPU
    assert {nn.Conv2d, nn.ConvTranspose2d} <= on_meta and not cpu_only & on_meta
    assert "_ImageByImageConv" not in {c.__name__ for c in on_meta}
    assert ("_ImageStatsBatchNorm" in {c.__name__ for c in on_meta}) == (test_mode == "paper")


AVX2_CHECK = """
from contextlib import nullcontext
import torch
from torch import nn
from img2img.infer.stochastic import batch_invariant, paper_test_mode
from img2img.nn import create_generator
from img2img.nn.cpu_fast import cpu_fast_path
torch.set_num_threads(2)
torch.manual_seed(0)

def run(net, x, seeds, fast):
    mode = batch_invariant(net) if seeds is None else paper_test_mode(net, seeds)
    with torch.inference_mode(), mode, cpu_fast_path(net) if fast else nullcontext():
        return net(x)

nets = [nn.Sequential(nn.ConvTranspose2d(16, 8, k, 2, 1, output_padding=k - 3)) for k in (3, 4)]
nets.append(create_generator("resnet_6blocks", ngf=8).eval())
inputs = [torch.randn(8, 16, 48, 48)] * 2 + [torch.randn(8, 3, 96, 96)]
checks = [(net, x, None, fast) for net, x in zip(nets, inputs) for fast in (False, True)]
# unet_256 as translate runs it: paper test mode, the fast path, inner layers down to 1x1
unet = create_generator("unet_256", ngf=4, norm="batch", dropout=True)
checks.append((unet, torch.randn(8, 3, 256, 256), list(range(8)), True))
for net, x, seeds, fast in checks:
    singles = [run(net, x[i : i + 1], seeds and seeds[i : i + 1], fast) for i in range(8)]
    assert torch.equal(run(net, x, seeds, fast), torch.cat(singles)), (net, seeds, fast)
"""


def test_batch_invariant_with_avx2_kernels() -> None:
    """The instruction set of most laptops, forced even where the CPU has AVX-512."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
           "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    result = subprocess.run([sys.executable, "-c", AVX2_CHECK], env=env, check=False,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
