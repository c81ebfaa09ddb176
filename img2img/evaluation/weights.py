"""Pretrained weights the metrics need, found on disk and never downloaded.

FID and KID need the Inception v3 weights converted from TensorFlow (torch-fidelity's file),
LPIPS the ImageNet AlexNet of torchvision. Each is looked for, by its published file name, in
``--weights-dir`` (directly or in its ``checkpoints/`` folder) and then in the torch hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), where
torchvision and torch-fidelity keep what they download. When one is missing, evaluation stops
before it translates anything, naming the file and where it goes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from img2img.extras import install_hint


class MissingWeightsError(FileNotFoundError):
    """A weights file a metric needs is not on disk."""


class MissingLibraryError(ImportError):
    """An optional library a metric needs is not installed."""


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file.

    Attributes:
        url: where it is published (named in messages; evaluation never fetches it).
        what: what it is, in words.
        used_by: the metrics that need it.
    """

    url: str
    what: str
    used_by: str

    @property
    def name(self) -> str:
        """The file name, as torch hub stores it."""
        return Path(urlparse(self.url).path).name


def metric_libraries() -> None:
    """Fail with the install command when torchmetrics or torch-fidelity is missing."""
    try:
        import torch_fidelity  # noqa: F401
        import torchmetrics  # noqa: F401
    except ImportError as exc:
        raise MissingLibraryError(install_hint("metrics", "torchmetrics / torch-fidelity")) from exc


def inception_weights() -> WeightsFile:
    """The Inception v3 weights of FID and KID (torch-fidelity's port of the TF graph)."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return WeightsFile(URL_INCEPTION_V3, "Inception v3 (2015-12-05 TF graph, torch-fidelity port)",
                       "FID and KID")


def alexnet_weights() -> WeightsFile:
    """The ImageNet AlexNet of torchvision, LPIPS's backbone."""
    from torchvision.models import AlexNet_Weights

    return WeightsFile(AlexNet_Weights.IMAGENET1K_V1.url, "AlexNet (torchvision, ImageNet)",
                       "LPIPS")


def hub_checkpoints() -> Path:
    """The torch hub cache's weights folder."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def search_folders(weights_dir: str | os.PathLike | None) -> list[Path]:
    """Where weights are looked for, in order."""
    folders = []
    if weights_dir is not None:
        folders += [Path(weights_dir), Path(weights_dir) / "checkpoints"]
    return [*folders, hub_checkpoints()]


def find_weights(weights: WeightsFile, weights_dir: str | os.PathLike | None) -> Path:
    """The file of ``weights``: in ``weights_dir`` or the torch hub cache.

    Raises:
        MissingWeightsError: it is in neither; the message names the file, the URL it comes
            from and the folders it may be put in.
    """
    folders = search_folders(weights_dir)
    for folder in folders:
        candidate = folder / weights.name
        if candidate.is_file():
            return candidate
    raise MissingWeightsError(
        f"{weights.name} ({weights.what}), needed for {weights.used_by}, is not in "
        f"{' nor '.join(map(str, folders))}; evaluate never downloads weights: download "
        f"{weights.url} into {folders[0]} (or the torch hub cache), or pass --skip-missing "
        f"to leave out {weights.used_by}"
    )


def check_tensor_file(path: Path) -> None:
    """Fail unless ``path`` loads with ``torch.load(weights_only=True)`` (tensors, no code).

    Some libraries load their weights with ``weights_only=False``; a file is handed to them only
    after it passed this check.
    """
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - every loader failure is one message
        raise ValueError(
            f"{path}: refused as weights: it does not load as plain tensors ({exc})"
        ) from exc


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Inside the block, any torch hub download fails naming its URL instead of fetching."""

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise MissingWeightsError(
            f"a metric tried to download {url}; evaluate never downloads weights: put the file "
            f"in --weights-dir or {hub_checkpoints()}"
        )

    original = torch.hub.download_url_to_file
    torch.hub.download_url_to_file = refuse
    try:
        yield
    finally:
        torch.hub.download_url_to_file = original


@contextlib.contextmanager
def hub_with(files: list[Path]) -> Iterator[None]:
    """A torch hub cache holding exactly ``files`` (linked), for libraries that read the cache.

    The hub folder is restored on exit, and downloads are refused inside.
    """
    previous = torch.hub.get_dir()
    with tempfile.TemporaryDirectory(prefix="img2img-hub-") as tmp:
        checkpoints = Path(tmp) / "checkpoints"
        checkpoints.mkdir()
        for file in files:
            link = checkpoints / file.name
            try:
                link.symlink_to(file.resolve())
            except OSError:  # no symlinks here: a hard link, or a copy at worst
                try:
                    os.link(file, link)
                except OSError:
                    link.write_bytes(file.read_bytes())
        torch.hub.set_dir(tmp)
        try:
            with no_downloads():
                yield
        finally:
            torch.hub.set_dir(previous)
