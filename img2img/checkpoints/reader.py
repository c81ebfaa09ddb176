"""Finding and reading checkpoint files: a run directory's latest one, a file given, safely.

Files are read with ``torch.load(weights_only=True)`` (loading never runs code from a file),
and every failure is one line naming the file.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import torch

from img2img.checkpoints.format import (
    CHECKPOINT_DIR,
    LATEST,
    SUFFIX,
    CheckpointError,
    RunNotStartedError,
    check_checkpoint,
)

_ZIP_MAGIC = b"PK\x03\x04"


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The checkpoint files (``*.pt``) in ``directory``, sorted by name; none if it is absent."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if p.is_file())


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run directory's latest checkpoint."""
    path = Path(path)
    if path.is_dir():
        candidate = path / CHECKPOINT_DIR / LATEST
        if not candidate.is_file():
            if (path / "config.json").is_file() and not any((path / CHECKPOINT_DIR).glob("*.pt")):
                raise RunNotStartedError(path)
            raise CheckpointError(
                f"{path}: no checkpoint found; expected a run directory holding "
                f"{CHECKPOINT_DIR}/{LATEST} or a checkpoint file (.pt/.pth)"
            )
        return candidate
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file or run directory")
    return path


def read_checkpoint_file(
    file: str | os.PathLike, map_location: str | torch.device = "cpu", *, mmap: bool = False
) -> object:
    """``torch.load`` with ``weights_only=True``; any failure is one line naming the file.

    ``mmap`` maps the tensors of a (zip-format) checkpoint instead of reading them, so parts
    never used cost nothing; legacy (pre-zip) files, as some published weights are, are read
    whole. Only regular files are opened (a FIFO would block forever).
    """
    if not Path(file).is_file():
        raise CheckpointError(f"{file}: not a regular file")
    with open(file, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    zipped = zipfile.is_zipfile(file)
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not for users
            warnings.simplefilter("ignore")
            return torch.load(
                file, map_location=map_location, weights_only=True, mmap=mmap and zipped
            )
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one message
        raise CheckpointError(f"{file}: {_load_failure(exc, zipped, head)}") from exc


def _load_failure(exc: Exception, zipped: bool, head: bytes) -> str:
    """The reason ``torch.load`` failed, in words."""
    text = str(exc)
    if "GLOBAL" in text or "Unsupported global" in text:
        first = next((line for line in text.splitlines() if "GLOBAL" in line.upper()
                      and "load" in line.lower()), "")
        return (
            "refused: it holds Python objects, not only tensors and plain values "
            f"(loading never runs code from a file){': ' + first.strip() if first else ''}"
        )
    if zipped and ("data.pkl" in text or "not in a subdirectory" in text):
        return "a zip archive, but not a PyTorch checkpoint (it holds no data.pkl)"
    if zipped:
        return f"a damaged checkpoint ({text.splitlines()[0] if text else exc!r})"
    if head == _ZIP_MAGIC:
        return "a truncated or damaged checkpoint (its zip directory is missing or broken)"
    if not head:
        return "an empty file, not a PyTorch checkpoint or state_dict"
    return "not a PyTorch checkpoint or state_dict"


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load an img2img checkpoint (file or run directory) safely (``weights_only=True``).

    Every checksum is verified.
    """
    file = resolve_checkpoint(path)
    return check_checkpoint(read_checkpoint_file(file, map_location), file)
