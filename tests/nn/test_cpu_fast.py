"""The opt-in CPU fast path: same numbers as torch's layers, same state dict, never exported."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from img2img.nn import cpu_fast, create_generator
from img2img.nn.cpu_fast import (
    FastConv2d,
    FastConvTranspose2d,
    cpu_fast_path,
    release_packed_weights,
    restore_plain_layers,
    subpixel_weight,
    use_cpu_fast_path,
)

GRAD_TOL = {"rtol": 1e-5, "atol": 2e-4}  # sums of thousands of terms in another order


@pytest.fixture
def matrix_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the ``unfold`` / ``fold`` calls made: only the matrix-product path makes them."""
    calls: list[str] = []
    for name in ("unfold", "fold"):
        original = getattr(F, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(F, name, spy)
    return calls


def _fast_copy(layer: nn.Module) -> nn.Module:
    return use_cpu_fast_path(copy.deepcopy(layer))


def _forward_backward(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape))
    return y.detach(), [x.grad] + [p.grad for p in layer.parameters()]


def _assert_same(plain: nn.Module, x: torch.Tensor, calls: list[str]) -> None:
    fast = _fast_copy(plain)
    (y0, g0), (y1, g1) = _forward_backward(plain, x), _forward_backward(fast, x)
    assert calls, "the matrix-product path did not run"
    assert y1.shape == y0.shape
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, **GRAD_TOL)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [2, 4, 8, 32])  # 32 -> 16x16 output: the grid limit
def test_conv_matches_torch(size: int, bias: bool, matrix_calls: list[str]) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 6, size, size)
    _assert_same(nn.Conv2d(6, 5, 4, 2, 1, bias=bias), x, matrix_calls)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(("kernel", "padding"), [(3, "same"), (4, "same"), (2, "valid"),
                                                 (3, (0, 1))])
def test_conv_string_and_uneven_padding(kernel: int, padding, matrix_calls: list[str]) -> None:
    torch.manual_seed(0)
    _assert_same(nn.Conv2d(4, 3, kernel, padding=padding), torch.randn(1, 4, 7, 9), matrix_calls)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [1, 2, 4, 16])
def test_transposed_conv_matches_torch(size: int, bias: bool, matrix_calls: list[str]) -> None:
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(6, 5, 4, 2, 1, bias=bias)
    _assert_same(layer, torch.randn(1, 6, size, size), matrix_calls)
    assert _fast_copy(layer)(torch.randn(1, 6, size, size)).shape == (1, 5, 2 * size, 2 * size)


def test_transposed_conv_with_output_padding_matches_torch(matrix_calls: list[str]) -> None:
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(6, 5, 3, 2, 1, output_padding=1)
    _assert_same(layer, torch.randn(1, 6, 5, 7), matrix_calls)


@pytest.mark.parametrize(("layer", "x", "call", "over"), [
    (FastConv2d(8, 4, 4, 2, 1), torch.randn(1, 8, 32, 32), "unfold", 34),  # 16x16 -> 17x17
    (FastConvTranspose2d(8, 4, 4, 2, 1), torch.randn(1, 8, 16, 16), "fold", 17),
])
def test_matrix_path_serves_one_small_image_with_autograd_only(
    layer: nn.Module, x: torch.Tensor, call: str, over: int, matrix_calls: list[str]
) -> None:
    layer(x)
    assert matrix_calls == [call]
    matrix_calls.clear()
    layer(torch.randn(1, 8, over, over))  # a grid over the limit
    layer(torch.cat([x, x]))  # a batch: oneDNN spreads its weight re-layout over the images
    with torch.no_grad():
        layer(x)
    with torch.autocast("cpu", dtype=torch.float16):  # bf16 has its own test
        layer(x)
    with pytest.raises(RuntimeError):  # not the weight's dtype: torch's own error
        layer(x.double())
    assert matrix_calls == []


def test_swap_is_in_place_and_keeps_the_state_dict() -> None:
    net = create_generator("unet_128", ngf=4, init_type=None)
    layout = [(k, v.shape, v.data_ptr()) for k, v in net.state_dict().items()]
    modules = list(net.modules())
    assert use_cpu_fast_path(net) is net
    assert list(net.modules()) == modules  # the same objects, only their class changed
    kinds = {type(m) for m in net.modules()}
    assert {FastConv2d, FastConvTranspose2d} <= kinds
    assert not kinds & {nn.Conv2d, nn.ConvTranspose2d}
    assert [(k, v.shape, v.data_ptr()) for k, v in net.state_dict().items()] == layout
    assert restore_plain_layers(net) is net
    assert not {type(m) for m in net.modules()} & {FastConv2d, FastConvTranspose2d}
    assert [(k, v.shape, v.data_ptr()) for k, v in net.state_dict().items()] == layout


def test_checkpoints_move_between_plain_and_fast() -> None:
    torch.manual_seed(0)
    plain = create_generator("unet_128", ngf=4).eval()
    fast = use_cpu_fast_path(create_generator("unet_128", ngf=4).eval())
    fast.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    plain.load_state_dict(fast.state_dict(), strict=True)


def test_only_plain_eligible_layers_are_swapped() -> None:
    class Custom(nn.Conv2d):
        pass

    net = nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Conv2d(2, 2, 3, dilation=2),
                        nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), Custom(2, 2, 3),
                        nn.Conv2d(2, 2, 3))
    use_cpu_fast_path(use_cpu_fast_path(net))  # idempotent
    assert [type(m) for m in net] == [nn.Conv2d, nn.Conv2d, nn.Conv2d, Custom, FastConv2d]
    assert type(use_cpu_fast_path(nn.ConvTranspose2d(2, 2, 2))) is FastConvTranspose2d


@pytest.mark.parametrize("name", ["unet_128", "unet_256"])
@pytest.mark.parametrize("batch", [1, 8])
def test_generator_with_fast_path_matches_plain(name: str, batch: int) -> None:
    # eval mode: BatchNorm over a handful of deep values would amplify any rounding difference
    torch.manual_seed(0)
    plain = create_generator(name, ngf=4, norm="batch", dropout=True).eval()
    fast = _fast_copy(plain)
    side = plain.size_multiple
    x = torch.rand(batch, 3, side, side) * 2 - 1
    (y0, g0), (y1, g1) = _forward_backward(plain, x), _forward_backward(fast, x)
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):  # within 1e-5 of each gradient's scale
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, still supported
def test_graph_capture_uses_torch_path(
    monkeypatch: pytest.MonkeyPatch, matrix_calls: list[str]
) -> None:
    layer = FastConv2d(2, 2, 3, padding=1)
    x = torch.randn(1, 2, 4, 4)
    layer(x)
    assert matrix_calls == ["unfold"]  # eager: one small image with autograd takes the path
    matrix_calls.clear()
    torch.jit.trace(layer, x, check_trace=False)  # the check would rerun it untraced
    assert "im2col" not in torch.export.export(layer, (x,)).graph_module.code
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    layer(x)
    assert matrix_calls == []


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
def test_export_with_dynamic_batch_matches_eager(fast: bool) -> None:
    torch.manual_seed(0)
    net = create_generator("unet_128", ngf=4, norm="instance").eval()
    if fast:
        use_cpu_fast_path(net)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    batch = torch.export.Dim("batch", min=1, max=16)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
    code = program.graph_module.code
    assert "im2col" not in code and "col2im" not in code
    for n in (1, 3):
        x = torch.rand(n, 3, 128, 128) * 2 - 1
        torch.testing.assert_close(program.module()(x), net(x), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_scripting_a_fast_network_runs_torch_path() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), nn.ConvTranspose2d(4, 2, 4, 2, 1))
    use_cpu_fast_path(net)
    x = torch.randn(1, 3, 6, 6)
    scripted = torch.jit.script(net)
    torch.testing.assert_close(scripted(x), net(x), rtol=1e-5, atol=1e-5)


# -- inference: packed oneDNN weights, channels-last, sub-pixel transposed convolutions ------


class _OpRecorder:
    """Stands in for ``torch.ops.mkldnn``: records which packed-weight ops are called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        op = getattr(torch.ops.mkldnn, name)

        def record(*args, **kwargs):
            self.calls.append(name)
            return op(*args, **kwargs)

        return record


@pytest.fixture
def packed_ops(monkeypatch: pytest.MonkeyPatch) -> _OpRecorder:
    recorder = _OpRecorder()
    monkeypatch.setattr(cpu_fast, "_MKLDNN", recorder)
    return recorder


INFERENCE_LAYERS = {
    "conv4s2": (nn.Conv2d(6, 5, 4, 2, 1), "_convolution_pointwise"),
    "conv3": (nn.Conv2d(4, 16, 3, padding=1, bias=False), "_convolution_pointwise"),
    "conv7_rgb": (nn.Conv2d(3, 8, 7, padding=3), "_convolution_pointwise"),
    "deconv4s2": (nn.ConvTranspose2d(6, 24, 4, 2, 1), "_convolution_transpose_pointwise"),
    "deconv4s2_rgb": (nn.ConvTranspose2d(6, 3, 4, 2, 1), "_convolution_pointwise"),  # sub-pixel
    "deconv3s2_rgb": (nn.ConvTranspose2d(6, 3, 3, 2, 1, output_padding=1, bias=False),
                      "_convolution_pointwise"),  # sub-pixel with uneven padding
    "deconv5s3_rgb": (nn.ConvTranspose2d(6, 3, 5, 3, 1, output_padding=2),
                      "_convolution_transpose_pointwise"),  # phases of unequal length
}


@pytest.mark.parametrize("name", list(INFERENCE_LAYERS))
def test_inference_path_matches_torch(name: str, packed_ops: _OpRecorder) -> None:
    torch.manual_seed(0)
    plain, op = INFERENCE_LAYERS[name]
    fast = _fast_copy(plain)
    x = torch.randn(3, plain.in_channels, 9, 11)
    with torch.inference_mode():
        expected, got = plain(x), fast(x)
    assert op in packed_ops.calls
    assert got.shape == expected.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_subpixel_form_is_the_transposed_convolution() -> None:
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(5, 2, 4, 2, 1)
    weight, bias = subpixel_weight(layer.weight, layer.bias, 2, 1)
    assert weight.shape == (8, 5, 3, 3) and bias.shape == (8,)
    x = torch.randn(2, 5, 6, 7)
    with torch.no_grad():
        phases = F.pixel_shuffle(F.conv2d(x, weight, bias, padding=1), 2)
        torch.testing.assert_close(phases, layer(x), rtol=1e-5, atol=1e-6)


def test_packed_weights_are_kept_until_the_weight_changes(packed_ops: _OpRecorder) -> None:
    torch.manual_seed(0)
    plain = nn.Conv2d(4, 8, 3, padding=1)
    fast = _fast_copy(plain)
    x = torch.randn(2, 4, 6, 6)

    def check() -> int:
        """Packings in two calls: the first of a shape runs on the plain weight."""
        packed_ops.calls.clear()
        with torch.no_grad():
            for _ in range(2):
                torch.testing.assert_close(fast(x), F.conv2d(x, fast.weight, fast.bias,
                                                             padding=1), rtol=1e-5, atol=1e-5)
        return packed_ops.calls.count("_reorder_convolution_weight")

    assert check() == 1
    assert check() == 0  # kept
    fast(torch.randn(1, 4, 5, 5)).sum().backward()
    torch.optim.SGD(fast.parameters(), lr=0.5).step()
    assert check() == 1  # an optimizer step updates the weight in place
    fast.load_state_dict(plain.state_dict())
    assert check() == 1
    fast.weight = nn.Parameter(torch.randn_like(fast.weight))
    assert check() == 1
    with torch.no_grad():
        fast.weight.data.mul_(2)  # invisible to the version counter: released by hand
    release_packed_weights(fast)
    assert check() == 1
    x = torch.randn(1, 4, 6, 6)  # another input shape: packed for it
    assert check() == 1


def test_first_call_of_a_shape_packs_nothing_and_gives_the_same_bits(
    packed_ops: _OpRecorder,
) -> None:
    torch.manual_seed(0)
    net = use_cpu_fast_path(nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(),
                                          nn.ConvTranspose2d(16, 8, 4, 2, 1),
                                          nn.ConvTranspose2d(8, 3, 4, 2, 1)))
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        first = net(x)
        assert not any(name.startswith("_reorder") for name in packed_ops.calls)
        assert torch.equal(net(x), first)  # packed now
        assert sum(name.startswith("_reorder") for name in packed_ops.calls) == 3
        assert torch.equal(net(x), first)


def test_weights_made_in_inference_mode() -> None:
    with torch.inference_mode():
        plain = nn.Conv2d(3, 4, 3, padding=1)
        fast = _fast_copy(plain)
        x = torch.randn(2, 3, 8, 8)
        for _ in range(2):  # plain weight, then packed
            torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)


def test_inference_path_only_without_autograd_in_fp32_or_native_bf16(
    packed_ops: _OpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu_fast, "cpu_has_bf16", lambda: False)
    fast = _fast_copy(nn.Conv2d(2, 2, 3, padding=1))
    x = torch.randn(2, 2, 20, 20)  # over the small-grid limit: torch's path when training
    fast(x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast(x)  # emulated bf16: torch's path
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
        fast(x)
    with torch.no_grad():
        fast.double()(x.double())
    assert packed_ops.calls == []


def test_fast_path_context_switches_back() -> None:
    net = nn.Sequential(nn.Conv2d(2, 2, 3), use_cpu_fast_path(nn.Conv2d(2, 2, 3)),
                        nn.ConvTranspose2d(2, 2, 2))
    with cpu_fast_path(net) as inside:
        assert inside is net
        assert [type(m) for m in net] == [FastConv2d, FastConv2d, FastConvTranspose2d]
    assert [type(m) for m in net] == [nn.Conv2d, FastConv2d, nn.ConvTranspose2d]


# -- bf16 autocast on a CPU with native bf16 ----------------------------------------------------

BF16_TOL = {"rtol": 2e-2, "atol": 2e-2}  # bf16 keeps 8 bits of mantissa


@pytest.fixture(params=[True, False], ids=["bf16_cpu", "no_bf16_cpu"])
def native_bf16(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the fast path takes this CPU for one with native bf16 (both are exercised on
    any CPU: without the instructions bf16 is emulated, slower but the same numbers)."""
    monkeypatch.setattr(cpu_fast, "cpu_has_bf16", lambda: request.param)
    return request.param


def _skip_without_onednn_bf16(native_bf16: bool) -> None:
    """oneDNN's packed bf16 convolutions refuse to run on a CPU without AVX-512 (or a cap)."""
    if native_bf16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("oneDNN has no bf16 convolutions for this CPU (or the ISA is capped)")


def _autocast_forward_backward(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    x = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape))
    return y.detach(), [x.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("size", [6, 10])  # conv: 9 and 25 positions, either product order
@pytest.mark.parametrize("plain", [nn.Conv2d(8, 6, 4, 2, 1), nn.ConvTranspose2d(8, 6, 4, 2, 1)],
                         ids=["conv", "deconv"])
def test_bf16_matrix_path_matches_autocast(
    plain: nn.Module, size: int, native_bf16: bool, matrix_calls: list[str]
) -> None:
    torch.manual_seed(0)
    plain = copy.deepcopy(plain)
    plain.zero_grad(set_to_none=True)  # the parametrised layer is shared by both CPUs
    x = torch.randn(1, 8, size, size)
    (y0, g0), (y1, g1) = (_autocast_forward_backward(plain, x),
                          _autocast_forward_backward(_fast_copy(plain), x))
    assert bool(matrix_calls) == native_bf16
    assert y1.dtype == y0.dtype == torch.bfloat16
    torch.testing.assert_close(y1.float(), y0.float(), **BF16_TOL)
    for a, b in zip(g1, g0, strict=True):
        assert a.dtype == b.dtype == torch.float32  # gradients reach the fp32 master weights
        torch.testing.assert_close(a, b, **BF16_TOL)


@pytest.mark.parametrize("name", ["conv4s2", "deconv4s2", "deconv4s2_rgb"])
def test_bf16_inference_packs_bf16_weights_until_they_change(
    name: str, native_bf16: bool, packed_ops: _OpRecorder
) -> None:
    _skip_without_onednn_bf16(native_bf16)
    torch.manual_seed(0)
    plain, op = INFERENCE_LAYERS[name]
    plain, fast = copy.deepcopy(plain), _fast_copy(plain)
    x = torch.randn(2, plain.in_channels, 9, 11)

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return plain(x), fast(x)

    for _ in range(3):  # the first call packs nothing, the next two reuse one packed weight
        expected, got = both()
        assert got.dtype == torch.bfloat16
        torch.testing.assert_close(got.float(), expected.float(), **BF16_TOL)
    reorders = [c for c in packed_ops.calls if c.startswith("_reorder")]
    assert (op in packed_ops.calls, len(reorders)) == ((True, 1) if native_bf16 else (False, 0))
    with torch.no_grad():  # an optimizer step: the kept bf16 weights are made again
        for layer in (plain, fast):
            layer.weight.mul_(-2.0)
    expected, got = both()
    torch.testing.assert_close(got.float(), expected.float(), **BF16_TOL)


def test_bf16_generator_inference_matches_autocast(native_bf16: bool) -> None:
    _skip_without_onednn_bf16(native_bf16)
    torch.manual_seed(0)
    plain = create_generator("unet_128", ngf=4, init_type=None).eval()
    fast = use_cpu_fast_path(copy.deepcopy(plain))
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = plain(x), fast(x)
    torch.testing.assert_close(got.float(), expected.float(), rtol=0.0, atol=0.05)
