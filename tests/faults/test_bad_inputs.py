"""Translate against hostile inputs and a shared output folder: real processes.

One bad file never stops a folder: each is reported by name while every good image is
written; nothing blocks (a FIFO), loops (a symlink to itself) or exhausts memory (a declared
huge PNG, an image over ``--max-pixels``).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.faults import processes

pytestmark = pytest.mark.slow


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _declared_huge_png(path: Path) -> None:
    """A valid 100 kB-free PNG whose header claims 100000 x 100000 gray pixels."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                     + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + _png_chunk(b"IEND", b""))


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, w)[None, :, None] * rng.uniform(0.3, 1, (1, 1, 3))
    return np.clip(ramp + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _corpus(folder: Path) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Bad and good inputs: ``{good name: (width, height)}`` and the bad names."""
    folder.mkdir()
    good = {}

    def save(name: str, image: Image.Image, **options) -> None:
        image.save(folder / name, **options)
        good[name] = image.size

    save("photo.png", Image.fromarray(_photo(40, 56, 0)))
    save("snapshot.jpg", Image.fromarray(_photo(48, 64, 1)))
    save("large.png", Image.fromarray(_photo(200, 300, 2)))  # over --max-pixels: tiles
    save("one_pixel.png", Image.new("RGB", (1, 1), (200, 10, 10)))
    palette = Image.fromarray(_photo(30, 20, 3)).convert("P")
    save("palette_transparent.png", palette, transparency=0)
    save("cmyk.jpg", Image.fromarray(_photo(24, 32, 4)).convert("CMYK"))
    deep = np.random.default_rng(5).integers(0, 65536, (26, 18), dtype=np.uint16)
    cv2.imwrite(str(folder / "sixteen_bit.png"), deep)
    good["sixteen_bit.png"] = (18, 26)

    (folder / "empty.png").write_bytes(b"")
    whole = (folder / "photo.png").read_bytes()
    (folder / "cut_png.png").write_bytes(whole[: len(whole) // 2])
    jpeg = (folder / "snapshot.jpg").read_bytes()
    (folder / "cut_jpeg.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "text.jpg").write_text("this is not a picture\n")
    os.symlink("loop.png", folder / "loop.png")
    os.symlink("nowhere.png", folder / "dangling.png")
    os.mkfifo(folder / "fifo.png")
    _declared_huge_png(folder / "bomb.png")
    bad = ["empty.png", "cut_png.png", "cut_jpeg.jpg", "text.jpg", "loop.png",
           "dangling.png", "fifo.png", "bomb.png"]
    return good, bad


def test_bad_inputs_are_reported_by_name_and_good_ones_written(reference_run, tmp_path):
    good, bad = _corpus(tmp_path / "in")
    out = tmp_path / "out"
    result = processes.run("translate", "--model", reference_run, tmp_path / "in", out,
                           "--max-pixels", 128 * 128, "--device", "cpu", "--preprocess", "none",
                           cwd=tmp_path,
                           timeout=180)
    assert result.returncode == 1, result.stderr  # something failed, nothing crashed
    assert "Traceback" not in result.stderr + result.stdout
    text = " ".join(result.stdout.split())
    assert f"{len(good)} written" in text and f"{len(bad)} failed" in text
    failed = dict(re.findall(r"failed (\S+): (.*?)(?= failed |$)", text))
    assert sorted(Path(p).name for p in failed) == sorted(bad)
    reasons = {Path(p).name: reason for p, reason in failed.items()}
    assert "symbolic link loop" in reasons["loop.png"]
    assert "dangling symbolic link" in reasons["dangling.png"]
    assert "FIFO" in reasons["fifo.png"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "1 large images were translated in tiles" in text
    for name, size in good.items():
        with Image.open(out / Path(name).with_suffix(".png")) as image:
            assert image.size == size and image.mode == "RGB"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        str(Path(n).with_suffix(".png")) for n in good)


def test_two_translate_processes_on_one_folder_write_every_output_once(
    reference_run, tmp_path
):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(24):
        Image.fromarray(_photo(48, 40 + i, i)).save(source / f"{i:02d}.png")
    out = tmp_path / "out"
    command = ["translate", "--model", reference_run, source, out, "--device", "cpu",
               "--batch-size", "2", "--preprocess", "none"]
    procs = [processes.start(*command, cwd=tmp_path) for _ in range(2)]
    results = [proc.communicate(timeout=180) for proc in procs]
    written = 0
    for proc, (stdout, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
        counts = re.search(r"(\d+) written, (\d+) kept", " ".join(stdout.split()))
        assert counts and int(counts[1]) + int(counts[2]) == 24, stdout
        written += int(counts[1])
    assert written == 24  # each output written by exactly one of them, none replaced
    outputs = sorted(out.iterdir())
    assert [p.name for p in outputs] == [f"{i:02d}.png" for i in range(24)]
    for i, path in enumerate(outputs):
        with Image.open(path) as image:
            image.load()
            assert image.size == (40 + i, 48)


def test_an_output_folder_that_cannot_be_written_fails_before_any_image(
    reference_run, tmp_path
):
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(_photo(32, 32, 0)).save(source / "a.png")
    result = processes.run("translate", "--model", reference_run, source, tmp_path / "out",
                           "--device", "cpu", cwd=tmp_path, limits={"RLIMIT_FSIZE": 16384})
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert message.count("Error:") == 1 and "Traceback" not in message
    assert f"output folder {tmp_path / 'out'} is not writable: File too large" in message
    assert list((tmp_path / "out").iterdir()) == []


def test_an_image_that_does_not_fit_in_memory_fails_alone(reference_run, tmp_path):
    """Under an address-space cap (``ulimit -v``): a 12000 x 12000 PNG (a small file) cannot
    even be decoded and is reported; a batch whose forward pass does not fit is translated
    image by image; every other image is written."""
    source = tmp_path / "in"
    source.mkdir()
    Image.new("L", (12000, 12000), 90).save(source / "huge.png", compress_level=1)
    ramp = np.linspace(0, 255, 360).astype(np.uint8)  # smooth: quick to write and read
    for i in range(16):
        Image.fromarray(np.add.outer(ramp // 2, ramp[::-1] // 2) // (1 + i % 3)).save(
            source / f"{i:02d}.png", compress_level=1)
    out = tmp_path / "out"
    result = processes.run("translate", "--model", reference_run, source, out, "--device", "cpu",
                           "--eval", "--batch-size", 16, "--max-pixels", 0, "--preprocess",
                           "none", cwd=tmp_path,
                           headroom=160 << 20, timeout=180)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    text = " ".join(result.stdout.split())
    assert "16 written" in text and "1 failed" in text
    assert re.search(r"failed \S+huge\.png: out of memory reading it", text)
    assert "out of memory on a batch of 16 images; translating them one by one" in " ".join(
        result.stderr.split())
    assert sorted(p.name for p in out.iterdir()) == [f"{i:02d}.png" for i in range(16)]
    for path in out.iterdir():
        with Image.open(path) as image:
            assert image.size == (360, 360)
