"""The streaming PNG encoder: what it writes reads back as the same pixels, and write_image
uses it for huge PNGs."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from img2img.data import image_write, png
from img2img.data.io import write_image


@pytest.mark.parametrize("shape", [(37, 29, 3), (5, 300, 1), (1, 1, 3), (64, 64, 3)])
def test_pixels_read_back_exactly(shape, monkeypatch):
    monkeypatch.setattr(png, "_BAND_BYTES", 1000)  # many bands, the first row of each filtered
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    buffer = io.BytesIO()
    png.write_png(buffer, array)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        assert image.mode == ("RGB" if shape[2] == 3 else "L")
        assert np.array_equal(np.asarray(image).reshape(shape), array)
    decoded = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded.reshape(shape)[..., ::-1] if shape[2] == 3 else
                          decoded.reshape(shape), array)


def test_write_image_streams_huge_pngs(tmp_path, monkeypatch):
    monkeypatch.setattr(image_write, "STREAMED_PNG_PIXELS", 100)
    calls = []
    monkeypatch.setattr(image_write, "write_png",
                        lambda f, a, level: calls.append(a.shape) or png.write_png(f, a, level))
    array = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", array)
    assert calls == [(20, 30, 3)]
    with Image.open(tmp_path / "x.png") as image:
        assert np.array_equal(np.asarray(image), array)


def test_refuses_what_it_cannot_encode():
    with pytest.raises(ValueError, match="uint8"):
        png.write_png(io.BytesIO(), np.zeros((4, 4, 2), np.uint8))
