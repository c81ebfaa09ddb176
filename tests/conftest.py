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
    from img2img.config import DataConfig, RunConfig, TrainConfig
    from img2img.families.pix2pix.config import Pix2PixConfig

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


#: Cityscapes files of each kind, by folder suffix
_CITY_SUFFIX = {"_label": "gtFine_labelIds", "_inst": "gtFine_instanceIds", "_img": "leftImg8bit"}


def shrink_cityscapes(root: Path, factor: int = 8, test_count: int = 4) -> Path:
    """The Cityscapes sample at 1/``factor`` size (256x128): ids subsampled exactly (16-bit
    instance maps stay 16-bit), photos box-filtered; ``test_count`` test examples."""
    for folder in sorted(CITYSCAPES.iterdir()):
        if not folder.is_dir():
            continue
        (root / folder.name).mkdir(parents=True, exist_ok=True)
        paths = sorted(folder.glob("*.png"))
        for path in paths[:test_count] if folder.name.startswith("test") else paths:
            with Image.open(path) as img:
                if folder.name.endswith("_img"):
                    small = img.convert("RGB").reduce(factor)
                else:
                    small = Image.fromarray(np.asarray(img)[::factor, ::factor].copy())
            small.save(root / folder.name / path.name)
    return root


#: synthetic street scenes: class id -> photo colour (Cityscapes labelIds)
_SCENE_COLOURS = {23: (70, 130, 180), 11: (70, 70, 70), 7: (128, 64, 128), 17: (153, 153, 153),
                  26: (0, 0, 142), 33: (119, 11, 32)}


def _scene(rng: np.random.Generator, h: int = 128, w: int = 256):
    """One synthetic street scene: label ids, 16-bit instance ids (class*1000+k for cars and
    bicycles), a photo coloured by class with a colour per car, and noise."""
    labels = np.full((h, w), 7, np.uint8)  # road
    labels[: h // 4] = 23  # sky
    labels[h // 4: h // 2] = 11  # building
    pole = int(rng.integers(10, w - 10))
    labels[h // 8: h // 2 + 10, pole: pole + 3] = 17
    instances = labels.astype(np.uint16)
    photo = np.zeros((h, w, 3), np.float32)
    for cls, colour in _SCENE_COLOURS.items():
        photo[labels == cls] = colour
    objects = [(26, 26000), (26, 26001), (33, 33000)]
    for k, (cls, iid) in enumerate(objects):
        ch, cw = (24, 44) if cls == 26 else (14, 16)
        y = int(rng.integers(h // 2 + 4, h - ch))
        x = k * w // 3 + int(rng.integers(0, w // 3 - cw))
        labels[y: y + ch, x: x + cw] = cls
        instances[y: y + ch, x: x + cw] = iid
        tint = rng.integers(0, 256, 3) if cls == 26 else _SCENE_COLOURS[cls]
        photo[y: y + ch, x: x + cw] = tint
    photo = np.clip(photo + rng.normal(0, 8, photo.shape), 0, 255).astype(np.uint8)
    return labels, instances, photo


def synthetic_cityscapes(root: Path, train_count: int = 8, test_count: int = 4) -> Path:
    """A Cityscapes-like dataset in pix2pixHD's layout (train_label/, train_inst/, train_img/,
    test_label/, test_inst/) of synthetic 256x128 street scenes, named as Cityscapes names them."""
    rng = np.random.default_rng(0)
    for phase, count in (("train", train_count), ("test", test_count)):
        for i in range(count):
            labels, instances, photo = _scene(rng)
            arrays = {"_label": labels, "_inst": instances, "_img": photo}
            for kind, array in arrays.items():
                if phase == "test" and kind == "_img":
                    continue
                folder = root / f"{phase}{kind}"
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(folder / f"synth_{i:06d}_{_CITY_SUFFIX[kind]}.png")
    return root


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Cityscapes sample (8 train photos with labels and instances, 4 test label and
    instance maps) at 256x128, or synthetic street scenes of the same layout, classes and size
    when the sample is not present."""
    root = tmp_path_factory.mktemp("cityscapes")
    return shrink_cityscapes(root) if CITYSCAPES.is_dir() else synthetic_cityscapes(root)


@pytest.fixture(scope="session")
def synthetic_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic Cityscapes-like street scenes (see :func:`synthetic_cityscapes`)."""
    return synthetic_cityscapes(tmp_path_factory.mktemp("synthetic_city"))


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory: pytest.TempPathFactory):
    """A torchvision-style vgg19 file (``features.N.*`` keys) with random weights, and the
    feature stack it holds (built by torchvision, apart from img2img's own builder)."""
    import torch
    from torchvision.models.vgg import cfgs, make_layers

    from img2img.losses.vgg import VGG19_FILE

    torch.manual_seed(0)
    features = make_layers(cfgs["E"])[:30]  # up to relu5_1: all the loss reads
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILE
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path, features.eval()


def tiny_pix2pixhd_config(root: Path, train: dict | None = None, **model):
    """A pix2pixHD run at test size: ngf 8, 2 residual blocks, 64x128 images (width 128)."""
    from img2img.config import DataConfig, RunConfig, TrainConfig
    from img2img.families.pix2pixhd.config import Pix2PixHDConfig

    train_options = {
        "batch_size": 2, "n_epochs": 1, "n_epochs_decay": 2, "device": "cpu", "log_every": 2,
        "sample_every": 1000, "checkpoint_every": 1000, **(train or {}),
    }
    model_options = {"ngf": 8, "ndf": 8, "n_blocks_global": 2, "nef": 4, "label_nc": 34,
                     "vgg_loss": False, **model}
    return RunConfig(
        family="pix2pixhd",
        model=Pix2PixHDConfig(**model_options),
        data=DataConfig(root=str(root), preprocess="scale_width", load_size=128, crop_size=64,
                        num_workers=0),
        train=TrainConfig(**train_options),
        name="tinyhd",
    )


def write_random_metric_weights(folder: Path) -> Path:
    """Randomly initialised weights of the metrics' real networks, under their published names.

    The Inception v3 of FID/KID (torch-fidelity's architecture) and the AlexNet of LPIPS
    (torchvision's) with random values: the code path is the real one, the numbers are not the
    published networks' (the tests never fetch weights).
    """
    from unittest import mock

    import torch
    import torchvision
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from img2img.evaluation.weights import alexnet_weights, inception_weights

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    with mock.patch("torch.load", return_value={}), mock.patch.object(
        FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None
    ):
        inception = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], "unused")
    for module in inception.modules():  # variance-preserving, so features differ per image
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(inception.state_dict(), folder / inception_weights().name)
    alexnet = torchvision.models.alexnet(weights=None)
    torch.save(alexnet.state_dict(), folder / alexnet_weights().name)
    return folder


@pytest.fixture(scope="session")
def metric_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``--weights-dir`` with randomly initialised Inception v3 and AlexNet weights."""
    return write_random_metric_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, so no weights are found unless a test puts them there."""
    import torch

    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    return hub


@pytest.fixture(scope="session")
def trained_run(gray2color: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pix2pix run of 4 steps on gray2color: metrics every step, grids every 2."""
    from img2img import launch

    config = tiny_pix2pix_config(gray2color, max_steps=4, log_every=1, sample_every=2)
    run, _ = launch.train(config, tmp_path_factory.mktemp("runs"))
    return run.path


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


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> str:
    """``$IMG2IMG_MIRROR`` on a local port nothing listens on: every download fails at once,
    as on a machine without a network."""
    import socket

    from img2img.hub.download import MIRROR_ENV

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mirror"
    monkeypatch.setenv(MIRROR_ENV, url)
    return url
