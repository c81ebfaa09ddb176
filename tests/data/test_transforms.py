"""PairedTransform: identical parameters for A and B, generator-only randomness, mode sizes."""

from __future__ import annotations

import pytest
import torch

from img2img.config import ConfigError
from img2img.data.io import LUMA_WEIGHTS
from img2img.data.ranges import from_model_range, to_model_range
from img2img.data.transforms import PairedTransform, resize_bicubic


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _image(h: int, w: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    # values in [0.25, 0.75]: bicubic overshoot stays inside [0, 1], so no clamping happens
    return 0.25 + 0.5 * torch.rand(c, h, w, generator=_gen(seed))


def _luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = LUMA_WEIGHTS
    return x[0:1] * r + x[1:2] * g + x[2:3] * b


@pytest.mark.parametrize("mode", ["resize_and_crop", "crop", "scale_width_and_crop"])
def test_same_params_for_both_sides(mode: str) -> None:
    transform = PairedTransform(mode, load_size=40, crop_size=32, flip=True)
    a = _image(48, 44)
    inverse, gray = 1.0 - a, _luma(a)  # B sides derived from A, one of them single-channel
    flips = set()
    for seed in range(40):
        out_a, out_inv = transform(a, inverse, _gen(seed))
        _, out_gray = transform(a, gray, _gen(seed))
        assert out_inv.shape == (3, 32, 32) and out_gray.shape == (1, 32, 32)
        torch.testing.assert_close(out_inv, 1.0 - out_a, atol=1e-5, rtol=0)
        torch.testing.assert_close(out_gray, _luma(out_a), atol=1e-5, rtol=0)
        flips.add(transform.get_params(48, 44, _gen(seed)).flip)
    assert flips == {True, False}


def test_crop_offsets_cover_the_whole_range() -> None:
    transform = PairedTransform("resize_and_crop", load_size=40, crop_size=32, flip=False)
    tops = {transform.get_params(10, 10, _gen(s)).crop[0] for s in range(300)}
    assert tops == set(range(9))


def test_flip_is_mirror_of_unflipped() -> None:
    transform = PairedTransform("crop", load_size=32, crop_size=32, flip=True)
    a = _image(32, 32)
    outputs = {
        transform.get_params(32, 32, _gen(s)).flip: transform(a, a, _gen(s))[0] for s in range(20)
    }
    assert torch.equal(outputs[False], a) and torch.equal(outputs[True], a.flip(-1))


def test_determinism_and_global_rng_untouched() -> None:
    transform = PairedTransform("resize_and_crop", load_size=40, crop_size=32)
    a, b = _image(50, 50, seed=1), _image(50, 50, c=1, seed=2)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = transform(a, b, _gen(7))
    second = transform(a, b, _gen(7))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    others = [transform(a, b, _gen(s))[0] for s in range(8, 14)]
    assert any(not torch.equal(first[0], o) for o in others)


def test_always_draws_three_numbers() -> None:
    for mode in ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"):
        g = _gen(5)
        PairedTransform(mode, load_size=32, crop_size=32).get_params(40, 40, g)
        reference = _gen(5)
        torch.rand(3, generator=reference, dtype=torch.float64)
        assert torch.equal(g.get_state(), reference.get_state()), mode


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [
        ("resize_and_crop", (50, 70), (32, 32)),
        ("crop", (50, 70), (32, 32)),
        ("scale_width", (50, 80), (32, 40)),  # height 25 raised to crop_size
        ("scale_width", (100, 80), (50, 40)),
        ("scale_width_and_crop", (100, 80), (32, 32)),
        ("none", (50, 70), (48, 72)),
        ("none", (30, 33), (32, 32)),
    ],
)
def test_output_size_per_mode(mode: str, size: tuple[int, int], expected: tuple[int, int]) -> None:
    transform = PairedTransform(mode, load_size=40, crop_size=32, flip=True)
    a, b = _image(*size), _image(*size, c=1)
    out_a, out_b = transform(a, b, _gen(0))
    assert out_a.shape[1:] == expected and out_b.shape[1:] == expected
    assert out_a.is_contiguous() and out_b.is_contiguous()


@pytest.mark.parametrize(("mode", "size"), [("none", (64, 48)), ("scale_width", (48, 40))])
def test_modes_leave_fitting_images_alone(mode: str, size: tuple[int, int]) -> None:
    transform = PairedTransform(mode, load_size=40, crop_size=32, flip=False)
    a = _image(*size)
    assert torch.equal(transform(a, a, _gen(0))[0], a)


def test_crop_larger_than_image_is_explained() -> None:
    transform = PairedTransform("crop", load_size=64, crop_size=64)
    with pytest.raises(ValueError, match=r"crop_size 64 is larger than the image \(20x70"):
        transform(_image(20, 70), _image(20, 70), _gen(0))


def test_b_of_another_size_is_aligned_to_a() -> None:
    transform = PairedTransform("resize_and_crop", load_size=40, crop_size=32)
    out_a, out_b = transform(_image(48, 48), _image(96, 96), _gen(0))
    assert out_a.shape == out_b.shape == (3, 32, 32)


def test_resize_is_antialiased_and_clamped() -> None:
    stripes = torch.zeros(1, 64, 64)
    stripes[..., ::2] = 1.0  # 1-pixel stripes average to 0.5 when shrunk with antialiasing
    small = resize_bicubic(stripes, (16, 16))
    assert small.min() >= 0.0 and small.max() <= 1.0
    torch.testing.assert_close(small[:, 4:-4, 4:-4], torch.full((1, 8, 8), 0.5), atol=0.02, rtol=0)
    step = torch.zeros(1, 8, 8)
    step[..., 4:] = 1.0
    up = resize_bicubic(step, (32, 32))  # bicubic overshoots at the step; clamped to [0, 1]
    assert up.min() == 0.0 and up.max() == 1.0


def test_invalid_settings() -> None:
    with pytest.raises(ConfigError, match="preprocess"):
        PairedTransform("zoom")
    with pytest.raises(ConfigError, match="crop_size"):
        PairedTransform("resize_and_crop", load_size=32, crop_size=64)
    with pytest.raises(ValueError, match="C x H x W"):
        PairedTransform()(torch.zeros(8, 8), torch.zeros(8, 8), _gen(0))


def test_model_range_helpers() -> None:
    x = torch.tensor([0.0, 0.25, 1.0])
    assert to_model_range(x).tolist() == [-1.0, -0.5, 1.0]
    assert torch.equal(from_model_range(to_model_range(x)), x)
    assert from_model_range(torch.tensor([-3.0, 3.0])).tolist() == [0.0, 1.0]
