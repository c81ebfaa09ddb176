"""Shared fixtures: small datasets made from real photographs, and tiny run configurations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """``../shared`` next to the checkout, or next to the folder holding it (a worktree)."""
    for parent in (REPO.parent, REPO.parent.parent):
        if (parent / "shared").is_dir():
            return parent / "shared"
    return REPO.parent / "shared"


SHARED = _find_shared()
#: real Cityscapes photos, label maps and 16-bit instance maps (tests skip when absent)
CITYSCAPES = SHARED / "data" / "cityscapes_sample"


def _photos() -> list[np.ndarray]:
    """Real colour photographs that ship with scikit-image (public domain / CC0)."""
    from skimage import data

    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]


def _crops(photo: np.ndarray, size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = photo.shape[:2]
    scale = min(h, w)
    out = []
    for _ in range(count):
        side = int(rng.integers(scale // 3, scale))
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(photo[y : y + side, x : x + side]).resize(
            (size, size), Image.BICUBIC
        )
        out.append(np.asarray(crop))
    return out


def make_gray2color(root: Path, size: int = 64, train: int = 48, test: int = 8) -> Path:
    """A paired ``A/B`` dataset: A is the grayscale of the photo crop B (a learnable mapping).

    Train crops come from the top 70% of every photo, test crops from the bottom 30%.
    """
    rng = np.random.default_rng(0)
    for phase, count, part in (("train", train, slice(0, 7)), ("test", test, slice(7, 10))):
        (root / phase / "A").mkdir(parents=True, exist_ok=True)
        (root / phase / "B").mkdir(parents=True, exist_ok=True)
        n = 0
        for photo in _photos():
            rows = photo.shape[0]
            region = photo[rows * part.start // 10 : rows * part.stop // 10]
            for crop in _crops(region, size, -(-count // 4), rng):
                Image.fromarray(crop).convert("L").save(root / phase / "A" / f"{n:03d}.png")
                Image.fromarray(crop).save(root / phase / "B" / f"{n:03d}.png")
                n += 1
    return root


@pytest.fixture(scope="session")
def gray2color(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 px gray -> colour pairs from real photos, train and test splits."""
    return make_gray2color(tmp_path_factory.mktemp("gray2color"))


def make_color2gray_unpaired(root: Path, size: int = 32, train: int = 48, test: int = 8) -> Path:
    """An unpaired ``trainA``/``trainB`` (+ ``testA``/``testB``) set: colour photos -> gray.

    A holds colour crops, B the grayscale of *other* crops (no pair exists); every crop is
    contrast-stretched, as photographs usually are. The hidden ground truth of an A image is
    its own grayscale. Train crops come from the top 70% of every photo, test crops from the
    bottom 30%.
    """
    rng = np.random.default_rng(1)
    for phase, count, part in (("train", train, slice(0, 7)), ("test", test, slice(7, 10))):
        for side in "AB":
            folder = root / f"{phase}{side}"
            folder.mkdir(parents=True, exist_ok=True)
            n = 0
            for photo in _photos():
                rows = photo.shape[0]
                region = photo[rows * part.start // 10 : rows * part.stop // 10]
                for crop in _crops(region, size, -(-count // 4), rng):
                    image = ImageOps.autocontrast(Image.fromarray(crop))
                    if side == "B":
                        image = image.convert("L").convert("RGB")
                    image.save(folder / f"{side.lower()}{n:03d}.png")
                    n += 1
    return root


@pytest.fixture(scope="session")
def color2gray(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 px unpaired colour photos (A) and grayscale photos (B), train and test splits."""
    return make_color2gray_unpaired(tmp_path_factory.mktemp("color2gray"))


def write_clip(path: Path, frames: int = 6, h: int = 28, w: int = 44, fps: float = 12.0) -> Path:
    """A short video whose frames all differ: stripes moving over a gradient, a changing blue.

    The container is ``path``'s suffix: ``.avi`` (Motion JPEG), ``.mp4`` or ``.mov`` (MPEG-4).
    """
    import cv2

    yy, xx = np.mgrid[0:h, 0:w]
    codec = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v"}[path.suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
    for i in range(frames):
        stripes = ((xx + 3 * i) // 8 % 2) * 200
        frame = np.stack([stripes, yy * 8, np.full_like(xx, 120 + 25 * (i % 2) - 10 * i)], -1)
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()
    return path


def tiny_pix2pix_config(root: Path, **train_overrides):
    """A pix2pix run at test size: unet_128 with ngf 8 on 64 px crops padded to 128."""
    from img2img.config import DataConfig, Pix2PixConfig, RunConfig, TrainConfig

    train = {
        "batch_size": 2,
        "n_epochs": 50,
        "n_epochs_decay": 50,
        "device": "cpu",
        "log_every": 5,
        "sample_every": 1000,
        "checkpoint_every": 1000,
        **train_overrides,
    }
    return RunConfig(
        family="pix2pix",
        model=Pix2PixConfig(netG="unet_128", ngf=8, ndf=8, input_nc=1, output_nc=3),
        data=DataConfig(
            root=str(root),
            preprocess="resize_and_crop",
            load_size=142,
            crop_size=128,
            num_workers=0,
        ),
        train=TrainConfig(**train),
        name="tiny",
    )


@pytest.fixture
def file_server(tmp_path: Path):
    """A :class:`tests.http_server.FileServer` on 127.0.0.1 serving ``tmp_path / "served"``."""
    from tests.http_server import FileServer

    root = tmp_path / "served"
    root.mkdir()
    server = FileServer(root)
    yield server
    server.close()


@pytest.fixture(scope="session")
def horse2zebra_bytes() -> bytes:
    """A resnet_9blocks generator file in the published layout, as older CycleGAN files were
    saved (with InstanceNorm running statistics), with random weights."""
    import io

    import torch

    from img2img.nn import create_generator

    torch.manual_seed(0)
    net = create_generator("resnet_9blocks", norm="instance", init_type=None)
    state = net.state_dict()
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.InstanceNorm2d):
            state[f"{name}.running_mean"] = torch.zeros(module.num_features)
            state[f"{name}.running_var"] = torch.ones(module.num_features)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


@pytest.fixture
def mirror(file_server, monkeypatch: pytest.MonkeyPatch):
    """The local server as ``$IMG2IMG_MIRROR`` of the published URLs.

    ``mirror.publish(entry, data)`` serves ``data`` at the path of the registry entry's URL
    (a published model or dataset) and returns that path on the server;
    ``mirror.publish.server`` is the server again.
    """
    from urllib.parse import urlsplit

    from img2img.hub.download import MIRROR_ENV

    monkeypatch.setenv(MIRROR_ENV, f"{file_server.url}/mirror")

    def publish(entry, data: bytes) -> str:
        path = "/mirror" + urlsplit(entry.url).path
        target = file_server.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return path

    publish.server = file_server
    file_server.publish = publish
    return file_server
