"""Tiled translation: the tile plan, blending, whole-image statistics, and closeness to untiled."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from img2img.data.transforms import resize_bicubic
from img2img.infer.canvas import Canvas
from img2img.infer.padding import crop_back, pad_to_multiple
from img2img.infer.stochastic import batch_invariant, paper_test_mode
from img2img.infer.tiling import (
    FrozenStatistics,
    RecordStatistics,
    blend_weights,
    plan_tiles,
    thumbnail_size,
    translate_tiled,
    uses_image_statistics,
)
from img2img.nn import create_generator


def _tiled(image, run, key, *, multiple, dtype=torch.float32, **options):
    """:func:`translate_tiled` on one picture ``[C, H, W]``, ``run`` taking a tensor."""
    canvas = Canvas.padded({"image": image}, {"image": "image"}, multiple)
    return translate_tiled(canvas, lambda tiles, keys: run(tiles["image"], keys), key,
                           multiple=multiple, dtype=dtype, **options)


def _photo(h: int, w: int) -> torch.Tensor:
    """A real photograph (scikit-image's astronaut), resized: ``[3, h, w]`` in [0, 1]."""
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255
    return resize_bicubic(image, (h, w))


@pytest.mark.parametrize(
    "height, width, max_pixels, multiple",
    [(512, 768, 256 * 256, 128), (256, 4096, 512 * 512, 256), (1000, 60, 40 * 40, 4),
     (128, 128, 64 * 64, 4)],
)
def test_tiles_cover_the_image_within_the_budget(height, width, max_pixels, multiple):
    grid = plan_tiles(height, width, max_pixels, multiple)
    tile_h, tile_w = grid.tile
    assert tile_h % multiple == 0 and tile_w % multiple == 0
    assert tile_h * tile_w <= max(max_pixels, multiple * multiple)
    covered = torch.zeros(height, width, dtype=torch.bool)
    for top, left in grid.windows():
        assert top + tile_h <= height and left + tile_w <= width
        covered[top : top + tile_h, left : left + tile_w] = True
    assert covered.all()
    assert len(grid) == len(grid.tops) * len(grid.lefts) > 1


def test_overlaps_sit_on_the_network_grid_when_they_can():
    grid = plan_tiles(2048, 3072, 1024 * 1024, 256)
    assert grid.tile == (1024, 1024) and grid.overlap == 256
    assert all(p % 256 == 0 for p in grid.tops + grid.lefts)
    steps = [b - a for a, b in zip(grid.lefts, grid.lefts[1:], strict=False)]
    assert steps and all(s <= 1024 - 256 for s in steps)  # neighbours share >= the overlap


def test_a_side_the_image_fills_gives_its_budget_to_the_other():
    grid = plan_tiles(256, 8192, 512 * 512, 256)  # a panorama strip
    assert grid.tile == (256, 1024) and grid.tops == (0,)


def test_blend_weights_ramp_down_to_the_edges():
    w = blend_weights((16, 16), 4)[0, 0]
    assert w[8, 8] == 1 and w[0, 0] == pytest.approx(0.125**2)
    assert torch.all(w > 0)
    assert torch.all(w[:, :8].diff(dim=1) >= 0)  # rising towards the middle


def test_blending_alone_changes_nothing():
    """With a network that returns its input, the tiled output is the input exactly."""
    image = _photo(200, 300)

    def identity(tiles, keys):
        return tiles.clone()

    out = _tiled(image, identity, "x", max_pixels=64 * 64, multiple=4)
    assert out.shape == image.shape
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)


def test_every_tile_gets_its_own_key():
    seen = []

    def run(tiles, keys):
        seen.extend(keys)
        return tiles

    _tiled(_photo(64, 96), run, "dir/img.png", max_pixels=32 * 32, multiple=32)
    assert len(seen) == len(set(seen)) == len(plan_tiles(64, 96, 32 * 32, 32)) == 12
    assert all(k.startswith("dir/img.png@") for k in seen)


def _runner(net: nn.Module, paper: bool):
    def run(tiles, keys):
        with torch.inference_mode():
            mode = paper_test_mode(net, [0] * len(keys), dropout=False) if paper else (
                batch_invariant(net))
            with mode:
                return (net(tiles * 2 - 1) + 1) / 2

    return run


def _untiled(run, image, multiple):
    x, size = pad_to_multiple(image[None], multiple)
    return crop_back(run(x, ["x"]), size)[0]


def test_tiles_with_running_statistics_match_the_whole_image():
    """A U-Net with batch norm in eval mode is local enough that tiles reproduce it."""
    torch.manual_seed(0)
    net = create_generator("unet_128", ngf=4, norm="batch", dropout=False).eval()
    image = _photo(128, 256)
    run = _runner(net, paper=False)
    whole = _untiled(run, image, 128)
    tiled = _tiled(image, run, "x", max_pixels=128 * 128, multiple=128)
    assert (tiled - whole).abs().max() < 2e-3


def test_instance_norm_tiles_use_whole_image_statistics():
    """Instance norm normalises each tile with the thumbnail's statistics: closer to the
    untiled output than each tile's own statistics, and close in absolute terms."""
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4, norm="instance").eval()
    assert uses_image_statistics([net], "eval")
    image = _photo(128, 256)
    run = _runner(net, paper=False)
    whole = _untiled(run, image, 4)
    options = {"max_pixels": 120 * 120, "multiple": 4}
    own = _tiled(image, run, "x", image_statistics=False, **options)
    shared = _tiled(image, run, "x", image_statistics=True, **options)
    own_error, shared_error = (own - whole).abs().mean(), (shared - whole).abs().mean()
    assert shared_error < own_error
    assert shared_error < 0.03


def test_which_networks_need_whole_image_statistics():
    unet = create_generator("unet_128", ngf=4, norm="batch")
    assert uses_image_statistics([unet], "paper") and not uses_image_statistics([unet], "eval")
    plain = create_generator("unet_128", ngf=4, norm="none")
    assert not uses_image_statistics([plain], "paper")


def test_recorded_statistics_replay_exactly():
    """Frozen with an image's own statistics, instance norm gives that image's output."""
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4, norm="instance").eval()
    x = _photo(64, 64)[None] * 2 - 1
    recorder = RecordStatistics()
    with torch.inference_mode():
        with recorder:
            expected = net(x)
        norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
        assert len(recorder.stats) == len(norms) == 1 + 2 + 2 * 6 + 2
        with FrozenStatistics(recorder.stats):
            replayed = net(x)
    torch.testing.assert_close(replayed, expected, atol=1e-5, rtol=1e-5)


def test_thumbnail_keeps_the_aspect_and_the_budget():
    h, w = thumbnail_size(3000, 1000, 256 * 256, 64)
    assert abs(h / w - 3) < 0.05
    assert (-(-h // 64) * 64) * (-(-w // 64) * 64) <= 256 * 256


def test_a_uint8_canvas_gives_the_values_of_the_padded_float_image(monkeypatch):
    """Windows (reflect padding included) and the band-by-band thumbnail equal what padding
    and resizing the whole float image give, bit for bit."""
    import img2img.infer.canvas as canvas_module

    monkeypatch.setattr(canvas_module, "_BAND_VALUES", 3 * 517 * 7)  # uneven bands of 7 rows
    pixels = (_photo(301, 517) * 255).round().to(torch.uint8)
    as_float = pixels.float().div_(255.0)
    canvas = Canvas.padded({"image": pixels}, {"image": "image"}, 32)
    padded, size = pad_to_multiple(as_float[None], 32)
    assert canvas.shape == tuple(padded.shape[-2:]) and canvas.crop[2:] == size
    for top, left in [(0, 0), (64, 96), (320 - 64, 544 - 96)]:
        window = canvas.window(top, left, 64, 96)["image"]
        assert torch.equal(window, padded[..., top : top + 64, left : left + 96])
    for hw in [(100, 171), (301, 40)]:
        assert torch.equal(canvas.thumbnail(hw)["image"], resize_bicubic(as_float, hw))
