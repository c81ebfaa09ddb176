"""Pretrained weights the metrics need: found on disk, else downloaded on first use.

FID and KID need the Inception v3 weights converted from TensorFlow (torch-fidelity's file),
LPIPS the ImageNet AlexNet of torchvision; both are listed, with their URL and (where known)
size and SHA-256, in ``img2img/hub/metric_weights.json``. Each is looked for, by its published
file name, in ``--weights-dir`` (directly or in its ``checkpoints/`` folder) and then in the
torch hub cache (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``),
where torchvision and torch-fidelity keep what they download. A missing one is fetched by
:func:`fetch_weights` through :mod:`img2img.hub.download` (``IMG2IMG_MIRROR``, resume,
checksum) into the first of those folders; the libraries themselves never download anything.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import torch

from img2img.extras import install_hint

#: the registry of metric weights, in ``img2img/hub``
REGISTRY_FILE = "metric_weights.json"


class MissingWeightsError(FileNotFoundError):
    """A weights file a metric needs is not on disk (and was not downloaded)."""


class MissingLibraryError(ImportError):
    """An optional library a metric needs is not installed."""


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file a metric needs.

    Attributes:
        key: its name in the registry (``alexnet``, ``inception``).
        url: where it is published.
        what: what it is, in words.
        used_by: the metrics that need it.
        size: its size in bytes, when known.
        sha256: its SHA-256, when known (checked after a download).
    """

    key: str
    url: str
    what: str
    used_by: tuple[str, ...]
    size: int | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        """The file name, as torch hub stores it."""
        return Path(urlparse(self.url).path).name

    @property
    def metrics(self) -> str:
        """The metrics that need it, in words (``FID and KID``)."""
        return " and ".join(self.used_by)


@functools.cache
def load_metric_weights() -> dict[str, WeightsFile]:
    """The registry of metric weights, by key.

    Raises:
        ValueError: the registry file is malformed (names the file and the entry).
    """
    text = resources.files("img2img.hub").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    entries = {}
    for index, raw in enumerate(json.loads(text)["weights"]):
        try:
            entry = WeightsFile(raw["name"], raw["url"], raw["what"], tuple(raw["used_by"]),
                                raw.get("size"), raw.get("sha256"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{REGISTRY_FILE}: entry {index} is malformed ({exc})") from exc
        entries[entry.key] = entry
    return entries


def metric_libraries() -> None:
    """Fail with the install command when torchmetrics or torch-fidelity is missing."""
    try:
        import torch_fidelity  # noqa: F401
        import torchmetrics  # noqa: F401
    except ImportError as exc:
        raise MissingLibraryError(install_hint("metrics", "torchmetrics / torch-fidelity")) from exc


def inception_weights() -> WeightsFile:
    """The Inception v3 weights of FID and KID (torch-fidelity's port of the TF graph)."""
    return load_metric_weights()["inception"]


def alexnet_weights() -> WeightsFile:
    """The ImageNet AlexNet of torchvision, LPIPS's backbone."""
    return load_metric_weights()["alexnet"]


def hub_checkpoints() -> Path:
    """The torch hub cache's weights folder."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def search_folders(weights_dir: str | os.PathLike | None) -> list[Path]:
    """Where weights are looked for, in order."""
    folders = []
    if weights_dir is not None:
        folders += [Path(weights_dir), Path(weights_dir) / "checkpoints"]
    return [*folders, hub_checkpoints()]


def download_folder(weights_dir: str | os.PathLike | None) -> Path:
    """Where a missing weights file is downloaded: ``weights_dir``, else the torch hub cache."""
    return Path(weights_dir) if weights_dir is not None else hub_checkpoints()


def local_weights(weights: WeightsFile, weights_dir: str | os.PathLike | None) -> Path | None:
    """The file of ``weights`` in ``weights_dir`` or the torch hub cache, or None."""
    for folder in search_folders(weights_dir):
        candidate = folder / weights.name
        if candidate.is_file():
            return candidate
    return None


def missing_message(weights: WeightsFile, weights_dir: str | os.PathLike | None) -> str:
    """Which file is missing, where it was looked for and where to put it."""
    folders = search_folders(weights_dir)
    return (f"{weights.name} ({weights.what}), needed for {weights.metrics}, is not in "
            f"{' nor '.join(map(str, folders))}; download {weights.url} into {folders[0]}")


def find_weights(weights: WeightsFile, weights_dir: str | os.PathLike | None) -> Path:
    """The file of ``weights``: in ``weights_dir`` or the torch hub cache.

    Raises:
        MissingWeightsError: it is in neither; the message names the file, the URL it comes
            from and the folders it may be put in.
    """
    found = local_weights(weights, weights_dir)
    if found is None:
        raise MissingWeightsError(missing_message(weights, weights_dir))
    return found


def fetch_weights(weights: WeightsFile, weights_dir: str | os.PathLike | None, *,
                  progress=None) -> Path:
    """Download ``weights`` into :func:`download_folder` (resuming, checksummed, through
    ``IMG2IMG_MIRROR``) and return the file.

    Raises:
        DownloadError: the download failed (no network, a refusing server, not a weights
            file, a wrong checksum); a later call resumes an interrupted transfer.
    """
    from img2img.hub.download import download

    dest = download_folder(weights_dir) / weights.name
    download(weights.url, dest, sha256=weights.sha256, kind="weights", progress=progress)
    return dest


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
            f"a metric library tried to download {url} itself; put the file in --weights-dir "
            f"or {hub_checkpoints()}"
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
