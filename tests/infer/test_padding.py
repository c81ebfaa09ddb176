"""Reflect padding to a size multiple and cropping back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from img2img.infer.padding import crop_back, pad_to_multiple, padded_size, reflect_indices
from img2img.nn import create_generator


@pytest.mark.parametrize(("h", "w", "multiple"), [(5, 7, 4), (300, 200, 256), (1, 3, 8),
                                                  (64, 64, 64), (33, 17, 16)])
def test_round_trip_restores_the_input(h: int, w: int, multiple: int) -> None:
    x = torch.rand(2, 3, h, w)
    padded, size = pad_to_multiple(x, multiple)
    assert size == (h, w)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2:] == padded_size(h, w, multiple)
    assert torch.equal(crop_back(padded, size), x)


def test_no_padding_needed_returns_the_input() -> None:
    x = torch.rand(1, 3, 32, 64)
    padded, size = pad_to_multiple(x, 32)
    assert padded is x and size == (32, 64)


def test_small_pads_equal_torch_reflect_split_evenly() -> None:
    x = torch.rand(2, 3, 10, 13)
    padded, _ = pad_to_multiple(x, 8)  # 10 -> 16 (3 top, 3 bottom), 13 -> 16 (1 left, 2 right)
    expected = F.pad(x, (1, 2, 3, 3), mode="reflect")
    assert torch.equal(padded, expected)


def test_pad_larger_than_image_keeps_reflecting() -> None:
    # [a b c] mirrored: ... c b | a b c | b a b c b a ...
    assert reflect_indices(3, 5, 6).tolist() == [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0]
    for n, before, after in [(2, 9, 4), (5, 13, 13), (4, 0, 20)]:
        expected = np.pad(np.arange(n), (before, after), mode="reflect")
        assert reflect_indices(n, before, after).tolist() == expected.tolist()


def test_tiny_image_pads_to_a_large_multiple() -> None:
    x = torch.rand(1, 1, 3, 5)
    padded, size = pad_to_multiple(x, 256)
    assert padded.shape == (1, 1, 256, 256)
    expected = np.pad(x[0, 0].numpy(), ((126, 127), (125, 126)), mode="reflect")
    assert np.array_equal(padded[0, 0].numpy(), expected)
    assert torch.equal(crop_back(padded, size), x)


def test_side_of_one_pixel_is_repeated() -> None:
    x = torch.rand(1, 2, 1, 4)
    padded, _ = pad_to_multiple(x, 4)
    assert padded.shape == (1, 2, 4, 4)
    assert torch.equal(padded, x.expand(1, 2, 4, 4))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="multiple"):
        pad_to_multiple(torch.rand(1, 3, 4, 4), 0)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        pad_to_multiple(torch.rand(3, 4, 4), 4)
    with pytest.raises(ValueError, match="larger"):
        crop_back(torch.rand(1, 3, 4, 4), (5, 4))


def test_300x200_through_unet_256_comes_back_300x200() -> None:
    torch.manual_seed(0)
    net = create_generator("unet_256", in_channels=3, out_channels=3, ngf=4, norm="batch").eval()
    x = torch.rand(1, 3, 300, 200) * 2 - 1
    padded, size = pad_to_multiple(x, 256)
    assert padded.shape[-2:] == (512, 256)
    with torch.inference_mode():
        y = crop_back(net(padded), size)
    assert y.shape == (1, 3, 300, 200)
