"""The folder the documentation's commands run in, with the small inputs they name.

Everything a page's command reads and no earlier command writes is made here, small:

- ``datasets/``: the two bundled datasets (linked), ``cityscapes`` as synthetic street scenes in
  pix2pixHD's layout; published datasets are downloaded into it by the commands themselves;
- ``photos/``, ``horses/``, ``zebras/``, ``sketch.png``, ``clip.mp4``: a few small photographs
  and a short video;
- a local HTTP server as ``$IMG2IMG_MIRROR``, serving the published files the pages download:
  the facades, edges2shoes and horse2zebra datasets (a few small images each) and the
  horse2zebra, zebra2horse and CUT generators (real layouts, random weights);
- ``$TORCH_HOME`` with the metric networks' weight files (random values, real layouts), so that
  ``evaluate`` computes every metric without a network.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from tests.conftest import (
    REPO,
    _crops,
    _photos,
    synthetic_cityscapes,
    write_clip,
    write_random_metric_weights,
)
from tests.http_server import FileServer


def _pictures(count: int, size: tuple[int, int], seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    photos = _photos()
    crops = [c for photo in photos for c in _crops(photo, max(size), -(-count // len(photos)), rng)]
    return [Image.fromarray(c).resize(size, Image.BICUBIC) for c in crops[:count]]


def _write(folder: Path, images: list[Image.Image], stem: str, ext: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        image.save(folder / f"{stem}{i:03d}{ext}")


def _encoded(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    pair = Image.new("RGB", (a.width + b.width, a.height))
    pair.paste(a, (0, 0))
    pair.paste(b, (a.width, 0))
    return pair


def _paired_archive(top: str, seed: int) -> bytes:
    """A pix2pix dataset as the reference publishes it: ``top/{train,val,test}/N.jpg``, A|B."""
    files = []
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        photos = _pictures(count, (32, 32), seed)
        for i, photo in enumerate(photos):
            gray = photo.convert("L").convert("RGB")
            files.append((f"{top}/{split}/{i + 1}.jpg", _encoded(_side_by_side(photo, gray))))
    return _tar_gz(files)


def _tar_gz(files: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _unpaired_archive(top: str) -> bytes:
    """A CycleGAN dataset as published: ``top/{trainA,trainB,testA,testB}/*.jpg``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, folder in enumerate(("trainA", "trainB", "testA", "testB")):
            for i, photo in enumerate(_pictures(4 if "train" in folder else 2, (32, 32), n)):
                archive.writestr(f"{top}/{folder}/{folder[-1].lower()}{i:03d}.jpg", _encoded(photo))
    return buffer.getvalue()


def _generator(**options) -> bytes:
    """A generator ``state_dict`` in the reference layout, random weights."""
    import torch

    from img2img.nn import create_generator

    torch.manual_seed(0)
    net = create_generator("resnet_9blocks", norm="instance", init_type=None, **options)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


class Sandbox:
    """The folder, its environment and the server; :meth:`close` stops the server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = FileServer(root / ".served")
        self.env = {
            "IMG2IMG_MIRROR": f"{self.server.url}/mirror",
            "TORCH_HOME": str(root / ".torch"),
            "HOME": str(root / ".home"),
            "COLUMNS": "200",
        }
        self._make_inputs()
        self._publish()
        write_random_metric_weights(root / ".torch" / "hub" / "checkpoints")

    def close(self) -> None:
        self.server.close()

    def _make_inputs(self) -> None:
        root = self.root
        (root / ".home").mkdir()
        datasets = root / "datasets"
        datasets.mkdir()
        for name in ("edges2photos_mini", "colorize_mini"):
            (datasets / name).symlink_to(REPO / "datasets" / name, target_is_directory=True)
        synthetic_cityscapes(datasets / "cityscapes", train_count=4, test_count=2)
        _write(root / "photos", _pictures(3, (40, 32), 3), "photo")
        _write(root / "horses", _pictures(2, (32, 32), 4), "horse")
        _write(root / "zebras", _pictures(2, (32, 32), 5), "zebra")
        edges = Image.open(REPO / "datasets" / "edges2photos_mini" / "test" / "chelsea_001.jpg")
        edges.crop((0, 0, edges.width // 2, edges.height)).resize((32, 32)).save(
            root / "sketch.png")
        write_clip(root / "clip.mp4", frames=3, h=24, w=32)

    def _serve(self, url: str, data: bytes) -> None:
        target = self.server.root / "mirror" / urlsplit(url).path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def _publish(self) -> None:
        from img2img.hub import datasets, weights

        self._serve(datasets.get_published("pix2pix/facades").url, _paired_archive("facades", 1))
        self._serve(datasets.get_published("edges2shoes").url, _paired_archive("edges2shoes", 2))
        self._serve(datasets.get_published("horse2zebra").url, _unpaired_archive("horse2zebra"))
        cyclegan = _generator()
        for name in ("horse2zebra", "zebra2horse"):
            self._serve(weights.get_published(name).url, cyclegan)
        cut = weights.get_published("horse2zebra_cut")
        member = f"{cut.archive_folder}/latest_net_G.pth"
        self._serve(cut.url, _tar_gz([(member, _generator(antialias=True, antialias_up=True))],
                                     mode="w"))


def make_sandbox(root: Path) -> Sandbox:
    """A :class:`Sandbox` in ``root`` (an empty folder)."""
    os.makedirs(root, exist_ok=True)
    return Sandbox(root)
