"""read_image / write_image: every PIL mode, exact values, failures that name the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from img2img.data import io as img_io
from img2img.data.io import (
    IMAGE_EXTENSIONS,
    LUMA_WEIGHTS,
    ImageReadError,
    is_image_file,
    read_image,
    to_channels,
    write_image,
)

RNG = np.random.default_rng(1234)


def _rgb(h: int = 6, w: int = 5) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _chw(array_hwc: np.ndarray, scale: float) -> torch.Tensor:
    return torch.from_numpy(array_hwc.astype(np.float32) / np.float32(scale)).permute(2, 0, 1)


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    r, g, b = LUMA_WEIGHTS
    return rgb[0:1] * r + rgb[1:2] * g + rgb[2:3] * b


def test_rgb_png_exact(tmp_path: Path) -> None:
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "x.png")
    out = read_image(tmp_path / "x.png")
    assert out.dtype == torch.float32 and out.shape == (3, 6, 5) and out.is_contiguous()
    assert torch.equal(out, _chw(arr, 255))


def test_rgb_to_gray_uses_bt601_luma(tmp_path: Path) -> None:
    arr = _rgb()
    arr[0, 0] = (255, 0, 0)
    Image.fromarray(arr).save(tmp_path / "x.png")
    gray = read_image(tmp_path / "x.png", channels=1)
    assert gray.shape == (1, 6, 5)
    torch.testing.assert_close(gray, _luma(_chw(arr, 255)), rtol=0, atol=1e-6)
    assert gray[0, 0, 0].item() == pytest.approx(0.299, abs=1e-6)


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    arr = _rgb()
    alpha = np.zeros((6, 5, 1), np.uint8)  # fully transparent: colour must survive untouched
    Image.fromarray(np.concatenate([arr, alpha], axis=2), "RGBA").save(tmp_path / "x.png")
    assert torch.equal(read_image(tmp_path / "x.png"), _chw(arr, 255))


def test_gray_l_and_la(tmp_path: Path) -> None:
    gray = RNG.integers(0, 256, size=(4, 7), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    la = np.stack([gray, np.full_like(gray, 7)], axis=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    expected = torch.from_numpy(gray.astype(np.float32) / 255)[None]
    assert torch.equal(read_image(tmp_path / "l.png", channels=1), expected)
    assert torch.equal(read_image(tmp_path / "la.png", channels=1), expected)
    rgb = read_image(tmp_path / "l.png", channels=3)
    assert rgb.shape == (3, 4, 7) and torch.equal(rgb, expected.repeat(3, 1, 1))


def test_palette_with_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 10, 20, 30] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    img.save(tmp_path / "p.png", transparency=2)
    assert Image.open(tmp_path / "p.png").info.get("transparency") == 2
    out = read_image(tmp_path / "p.png")
    expected = torch.tensor([[255, 0, 0], [0, 255, 0], [10, 20, 30]], dtype=torch.float32) / 255
    assert torch.equal(out[:, 0, :].T, expected)


def test_bilevel_mode_1(tmp_path: Path) -> None:
    bits = np.array([[True, False, True]])
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    out = read_image(tmp_path / "b.png", channels=1)
    assert out.flatten().tolist() == [1.0, 0.0, 1.0]


def test_16bit_gray_png(tmp_path: Path) -> None:
    values = np.array([[0, 1, 1000, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    out = read_image(tmp_path / "g16.png", channels=1)
    assert torch.equal(out[0], torch.from_numpy(values.astype(np.float32) / np.float32(65535)))


def test_16bit_big_endian_tiff(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 65535]], dtype=">u2")
    Image.frombytes("I;16B", (3, 1), values.tobytes()).save(tmp_path / "b16.tif")
    assert Image.open(tmp_path / "b16.tif").mode == "I;16B"
    out = read_image(tmp_path / "b16.tif", channels=1).flatten()
    assert out.tolist() == [0.0, np.float32(1000) / np.float32(65535), 1.0]


def test_16bit_colour_png_keeps_16_bits(tmp_path: Path) -> None:
    rgb = np.array([[[1000, 2000, 3000], [65535, 0, 257]]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb[..., ::-1].copy())  # OpenCV stores BGR
    out = read_image(tmp_path / "c16.png")
    assert torch.equal(out, _chw(rgb, 65535))  # 8-bit truncation would lose 1000 vs 1001


def test_32bit_int_tiff(tmp_path: Path) -> None:
    big = np.array([[0, 2**30, 2**31 - 1]], dtype=np.int32)
    Image.fromarray(big).save(tmp_path / "i32.tif")
    assert Image.open(tmp_path / "i32.tif").mode == "I"
    assert read_image(tmp_path / "i32.tif", channels=1).flatten().tolist() == [0.0, 0.5, 1.0]
    small = np.array([[0, 65535, 13107]], dtype=np.int32)  # 16-bit data stored as 32 bits
    Image.fromarray(small).save(tmp_path / "i16in32.tif")
    out = read_image(tmp_path / "i16in32.tif", channels=1).flatten().tolist()
    assert out == pytest.approx([0.0, 1.0, 0.2], abs=1e-7)


def test_mode_i_png_scales_by_65535() -> None:
    scaled = img_io._scale_int32(np.array([[0, 100, 65535]], dtype=np.int32), "PNG")
    assert scaled.flatten().tolist() == pytest.approx([0.0, 100 / 65535, 1.0])


def test_float_tiff_is_clamped(tmp_path: Path) -> None:
    values = np.array([[-0.5, 0.25, 2.0, np.nan]], dtype=np.float32)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    assert read_image(tmp_path / "f.tif", channels=1).flatten().tolist() == [0.0, 0.25, 1.0, 0.0]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    cmyk = np.zeros((16, 32, 4), np.uint8)
    cmyk[:, 16:, 0] = 255  # right half pure cyan, left half no ink (white)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.jpg", quality=100)
    out = read_image(tmp_path / "c.jpg")
    torch.testing.assert_close(out[:, 4:12, 2:12].mean((1, 2)), torch.ones(3), atol=0.02, rtol=0)
    cyan = out[:, 4:12, 20:30].mean((1, 2))
    torch.testing.assert_close(cyan, torch.tensor([0.0, 1.0, 1.0]), atol=0.02, rtol=0)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, 16:] = 255  # left half black, right half white, 16 high x 32 wide
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "rot.jpg", channels=1)[0]
    assert out.shape == (32, 16)
    assert out[:14].max() < 0.05  # the stored left (black) half is now on top
    assert out[18:].min() > 0.95


@pytest.mark.parametrize("orientation", range(1, 9))
def test_array_orientation_matches_pil(orientation: int) -> None:
    arr = _rgb(3, 5)
    img = Image.fromarray(arr)
    img.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(img))
    assert np.array_equal(img_io._apply_orientation(arr, orientation), expected)


def test_truncated_file_names_the_file(tmp_path: Path) -> None:
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "t.jpg", quality=95)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="t.jpg") as info:
        read_image(tmp_path / "t.jpg")
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    assert info.value.path == tmp_path / "t.jpg"


def test_truncated_png(tmp_path: Path) -> None:
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="t.png"):
        read_image(tmp_path / "t.png")


def test_text_file_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.png.*not an image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="nothing.png.*no such file"):
        read_image(tmp_path / "nothing.png")


def test_decompression_bomb(tmp_path: Path) -> None:
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "bomb.png")
    img_io.set_max_image_pixels(100)
    try:
        with pytest.raises(img_io.ImageTooLargeError) as caught:
            read_image(tmp_path / "bomb.png")
        with pytest.raises(ImageReadError, match="bomb.png.*decompression bomb"):
            img_io.read_header(tmp_path / "bomb.png")
        img_io.set_max_image_pixels(0)
        assert read_image(tmp_path / "bomb.png").shape == (3, 64, 64)
    finally:
        img_io.set_max_image_pixels(img_io.DEFAULT_MAX_IMAGE_PIXELS)
    assert str(caught.value).endswith(
        "bomb.png: refused as a possible decompression bomb: 64x64 is 4096 pixels, over the "
        "limit of 100; pass --max-image-pixels 4096 to read it")


def test_read_pixels_keeps_8_bit_values_and_converts_to_exactly_read_image(tmp_path):
    rgb = _rgb(40, 30)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    pixels = img_io.read_pixels(tmp_path / "c.png")
    assert pixels.dtype == torch.uint8
    assert torch.equal(pixels, torch.from_numpy(rgb).permute(2, 0, 1))
    for name in ("c.png", "g.png"):
        for channels in (1, 3):
            compact = img_io.read_pixels(tmp_path / name, channels)
            as_float = img_io.pixels_to_float(compact)
            assert torch.equal(as_float, read_image(tmp_path / name, channels))


def test_huge_images_convert_band_by_band_to_the_same_values(tmp_path, monkeypatch):
    monkeypatch.setattr(img_io, "_BAND_PIXELS", 97)  # many uneven bands
    rgb = _rgb(45, 31)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    expected = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    assert torch.equal(read_image(tmp_path / "c.png"), expected)
    gray = (expected[0:1] * 0.299 + expected[1:2] * 0.587 + expected[2:3] * 0.114).clamp_(0, 1)
    assert torch.equal(img_io.read_pixels(tmp_path / "c.png", 1), gray)


def test_error_survives_pickling(tmp_path: Path) -> None:
    err = ImageReadError(tmp_path / "a.png", "broken")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.path == err.path and again.reason == "broken"


def test_bad_channels() -> None:
    with pytest.raises(ValueError, match="channels"):
        read_image("x.png", channels=2)
    with pytest.raises(ValueError, match="4 channels"):
        to_channels(torch.zeros(4, 2, 2), 3)


def test_extensions() -> None:
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"} == set(
        IMAGE_EXTENSIONS
    )
    assert is_image_file("a/B.JPG") and is_image_file(Path("x.Tiff"))
    assert not is_image_file("a.txt") and not is_image_file("png")


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".ppm", ".webp"])
def test_write_lossless_roundtrip(tmp_path: Path, suffix: str) -> None:
    arr = _rgb(8, 9)
    if suffix == ".webp":  # lossy: use a smooth image
        arr = np.broadcast_to(np.arange(9, dtype=np.uint8)[None, :, None] * 20, (8, 9, 3)).copy()
    x = _chw(arr, 255)
    options = {"quality": 100} if suffix == ".webp" else {}
    write_image(tmp_path / f"x{suffix}", x, **options)
    back = read_image(tmp_path / f"x{suffix}")
    if suffix == ".webp":  # lossy even at 100, but close
        assert (back - x).abs().mean() < 0.03
    else:
        assert torch.equal(back, x)


def test_write_rounds_and_clamps(tmp_path: Path) -> None:
    x = torch.tensor([[[-0.2, 0.0, 0.5, 1.0, 1.7, 0.998]]])
    write_image(tmp_path / "g.png", x)
    stored = np.asarray(Image.open(tmp_path / "g.png"))
    assert stored.tolist() == [[0, 0, 128, 255, 255, 254]]


def test_write_numpy_gray_and_uint8(tmp_path: Path) -> None:
    arr = _rgb(5, 4)
    write_image(tmp_path / "u8.png", arr)  # H x W x C uint8 taken as is
    assert np.array_equal(np.asarray(Image.open(tmp_path / "u8.png")), arr)
    write_image(tmp_path / "g.png", np.full((3, 2), 0.5, np.float32))
    assert Image.open(tmp_path / "g.png").mode == "L"


@pytest.mark.parametrize("channels", [1, 3])
def test_write_16bit_png(tmp_path: Path, channels: int) -> None:
    values = torch.arange(channels * 4 * 5, dtype=torch.float32).reshape(channels, 4, 5) * 700
    x = values / 65535
    write_image(tmp_path / "x16.png", x, bits=16)
    assert torch.equal(read_image(tmp_path / "x16.png", channels=channels), x)


def test_write_jpeg_quality(tmp_path: Path) -> None:
    x = _chw(_rgb(32, 32), 255)
    small = write_image(tmp_path / "q10.jpg", x, quality=10).stat().st_size
    large = write_image(tmp_path / "q95.jpg", x, quality=95).stat().st_size
    assert small < large


def test_write_errors(tmp_path: Path) -> None:
    x = torch.zeros(3, 4, 4)
    with pytest.raises(ValueError, match=r"x\.gif.*expected one of"):
        write_image(tmp_path / "x.gif", x)
    with pytest.raises(ValueError, match="16-bit"):
        write_image(tmp_path / "x.jpg", x, bits=16)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        write_image(tmp_path / "x.png", torch.zeros(2, 4, 4))


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "sub" / "img.png"
    write_image(target, torch.zeros(3, 4, 4))
    before = target.read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, torch.ones(3, 4, 4))
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["img.png"]


def test_images_read_from_memory_equal_the_file_and_errors_name_it(tmp_path):
    from img2img.data.image_write import encode_image
    from img2img.data.io import read_header, read_ids, read_pixels

    rng = np.random.default_rng(3)
    image = torch.from_numpy(rng.random((3, 20, 30), dtype=np.float32))
    for suffix in (".png", ".jpg", ".webp"):
        path = write_image(tmp_path / f"x{suffix}", image)
        data = encode_image(image, suffix)
        assert data == path.read_bytes()  # the bytes write_image stores
        assert torch.equal(read_pixels("upload", data=data), read_pixels(path))
    assert read_header("upload.png", data=(tmp_path / "x.png").read_bytes()).size == (20, 30)
    ids = (tmp_path / "x.png").read_bytes()
    assert torch.equal(read_ids("u.png", data=ids), read_ids(tmp_path / "x.png"))
    with pytest.raises(ImageReadError, match=r"cannot read image upload.png: empty \(0 bytes\)"):
        read_pixels("upload.png", data=b"")
    with pytest.raises(ImageReadError, match="upload.png: not an image file"):
        read_pixels("upload.png", data=b"text")
    with pytest.raises(ValueError, match="cannot write .gif"):
        encode_image(image, ".gif")
