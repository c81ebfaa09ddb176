"""Huge images through real ``img2img translate`` processes: memory, pixels, and the size limit.

An image over the pixel budget is read, translated and written as 8-bit pixels, tile by tile:
its peak memory grows by a few times the 8-bit image, never by its float copies, and its
pixels are exactly those of blending whole-image float sums. An image over
``--max-image-pixels`` is refused unread, naming the option that lifts the limit.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.data.io import read_image, to_uint8
from img2img.families.loading import load_inference_model
from img2img.infer.batch import Translator
from img2img.infer.padding import crop_back, pad_to_multiple
from img2img.infer.plan import Job
from img2img.infer.tiling import (
    FrozenStatistics,
    RecordStatistics,
    blend_weights,
    plan_tiles,
    thumbnail_size,
)
from img2img.nn import create_generator
from tests.faults import processes

pytestmark = pytest.mark.slow

MB = 1 << 20

@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random ``resnet_6blocks`` at ngf 4 (instance norm: whole-image statistics too)."""
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4, norm="instance", init_type=None)
    path = tmp_path_factory.mktemp("model") / "tiny.pth"
    torch.save(net.state_dict(), path)
    return path


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :, None] * rng.uniform(0.3, 1, 3)
    noise = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    return (ramp.astype(np.uint8) + noise).astype(np.uint8)


def test_a_tiled_image_fits_in_a_few_times_its_8_bit_size(tiny_generator, tmp_path):
    """A 4000 x 4000 image (48 MB at 8 bits), in tiles of 512 x 512, is translated with
    400 MB of address space beyond what the process had mapped at start, without once running
    out of memory: its input and output stay 8-bit and the blending sums cover one row of
    tiles. (Holding the whole image as floats, as tiling did before, needed 700 MB.)"""
    huge = tmp_path / "huge.png"
    Image.fromarray(_photo(4000, 4000)).save(huge, compress_level=1)
    result = processes.run("translate", "--model", tiny_generator, huge, tmp_path / "out.png",
                           "--device", "cpu", "--max-pixels", 512 * 512, cwd=tmp_path,
                           headroom=400 * MB, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "out of memory" not in result.stderr, result.stderr
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (4000, 4000) and out.mode == "RGB"


def _whole_image_blend(translator: Translator, job: Job, max_pixels: int) -> np.ndarray:
    """What tiling gave before it streamed: the whole input as floats, padded, every tile's
    weighted output summed over the whole image, divided, cropped, quantised as written."""
    model = translator.model
    stream = model.input_streams[0].name
    picture = read_image(job.src, model.in_channels)
    padded, size = pad_to_multiple(picture[None], translator.multiple)
    grid = plan_tiles(*padded.shape[-2:], max_pixels, translator.multiple)

    def run(x: torch.Tensor, key: str) -> torch.Tensor:
        return translator.forward({stream: x}, [key], [""])

    thumb = thumbnail_size(*size, max_pixels, translator.multiple)
    small = torch.nn.functional.interpolate(picture[None], size=thumb, mode="bicubic",
                                            align_corners=False, antialias=True).clamp_(0, 1)
    recorder = RecordStatistics()
    with recorder:
        run(pad_to_multiple(small, translator.multiple)[0], f"{job.key}@thumbnail")
    weights = blend_weights(grid.tile, grid.overlap)
    total = torch.zeros((1, model.out_channels, grid.height, grid.width))
    weight_sum = torch.zeros((1, 1, grid.height, grid.width))
    th, tw = grid.tile
    for top, left in grid.windows():
        with FrozenStatistics(recorder.stats):
            out = run(padded[..., top : top + th, left : left + tw], f"{job.key}@{top},{left}")
        total[..., top : top + th, left : left + tw].addcmul_(out, weights)
        weight_sum[..., top : top + th, left : left + tw] += weights
    return to_uint8(crop_back(total.div_(weight_sum), size)[0])


def test_tiles_give_the_pixels_of_whole_image_blending(tiny_generator, tmp_path):
    """A 301 x 517 image (padded: its sides are not multiples of 4) in tiles of 128 x 128,
    by a real process: the written file equals the non-streamed blend bit for bit."""
    source = tmp_path / "odd.png"
    Image.fromarray(_photo(301, 517, seed=3)).save(source)
    out = tmp_path / "out.png"
    result = processes.run("translate", "--model", tiny_generator, source, out, "--device", "cpu",
                           "--max-pixels", 128 * 128, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 large images were translated in tiles" in " ".join(result.stdout.split())
    model = load_inference_model(tiny_generator)
    translator = Translator(model, torch.device("cpu"), "fp32")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the child ran: the same sums in the same order
    try:
        expected = _whole_image_blend(translator, Job(source, out, source.name), 128 * 128)
    finally:
        torch.set_num_threads(threads)
    with Image.open(out) as written:
        assert np.array_equal(np.asarray(written), expected)


def _declared_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width x height`` gray pixels (no real data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    return path


def test_an_image_over_the_limit_is_refused_naming_the_option(tiny_generator, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    _declared_png(source / "vast.png", 20000, 20000)
    _declared_png(source / "large.png", 10000, 10000)  # over Pillow's warning size only
    Image.fromarray(_photo(32, 48)).save(source / "fine.png")
    result = processes.run("translate", "--model", tiny_generator, source, tmp_path / "out",
                           "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    text = " ".join((result.stdout + result.stderr).split())
    assert "DecompressionBomb" not in text and "Traceback" not in text
    assert ("vast.png: refused as a possible decompression bomb: 20000x20000 is 400000000 "
            "pixels, over the limit of 178956970; pass --max-image-pixels 400000000 to read it"
            ) in text
    assert "large.png" in text and "1 written" in text and "2 failed" in text


def test_max_image_pixels_lifts_or_lowers_the_limit(tiny_generator, tmp_path):
    source = tmp_path / "photo.png"
    Image.fromarray(_photo(32, 48)).save(source)
    lowered = processes.run("translate", "--model", tiny_generator, source, tmp_path / "a.png",
                            "--device", "cpu", "--max-image-pixels", 1000, cwd=tmp_path)
    assert lowered.returncode == 1
    assert "pass --max-image-pixels 1536 to read it" in " ".join(lowered.stdout.split())
    lifted = processes.run("translate", "--model", tiny_generator, source, tmp_path / "b.png",
                           "--device", "cpu", "--max-image-pixels", 0, cwd=tmp_path)
    assert lifted.returncode == 0, lifted.stderr
    bad = processes.run("translate", "--model", tiny_generator, source, tmp_path / "c.png",
                        "--device", "cpu", "--max-image-pixels", -5, cwd=tmp_path)
    assert bad.returncode == 2
    message = " ".join(bad.stderr.split())
    assert message.count("Error:") == 1 and "--max-image-pixels: -5 is not valid" in message
