"""Shared fixtures: small datasets made from real photographs, and tiny run configurations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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


@pytest.fixture(scope="session", autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Remembered batch-invariance verdicts go to a folder of the test session, not ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMG2IMG_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def gray2color(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 px gray -> colour pairs from real photos, train and test splits."""
    return make_gray2color(tmp_path_factory.mktemp("gray2color"))


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
