"""Checkpoint files: one dict of plain types and tensors, written atomically.

Layout (``FORMAT_VERSION`` 1)::

    {"format": "img2img-checkpoint", "format_version": 1, "family": "pix2pix",
     "config": RunConfig.to_dict(), "step": int, "epoch": int, "epoch_step": int,
     "nets": {name: state_dict}, "optimizers": {...}, "schedulers": {...},
     "scaler": state_dict | None, "rng": {...}, "extra": {...}}

Everything loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from img2img.atomic import atomic_write

FORMAT = "img2img-checkpoint"
FORMAT_VERSION = 1
LATEST = "latest.pt"
CHECKPOINT_DIR = "checkpoints"


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (without format keys) to ``path`` atomically and return the path."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    atomic_write(path, lambda f: torch.save(data, f), sync_dir=True)
    return path


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run directory's latest checkpoint."""
    path = Path(path)
    if path.is_dir():
        candidate = path / CHECKPOINT_DIR / LATEST
        if not candidate.is_file():
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
    """``torch.load`` with ``weights_only=True``; any failure names the file."""
    try:
        return torch.load(file, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointError(f"{file}: cannot be read as a checkpoint ({exc})") from exc


def check_checkpoint(data: object, file: str | os.PathLike) -> dict:
    """``data`` if it is an img2img checkpoint this version can read; else a clear error."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{file}: not an img2img checkpoint (expected a dict with format {FORMAT!r}); "
            "bare published generator weights can be used with 'img2img translate'"
        )
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format version {data['format_version']} is newer than this "
            f"img2img supports ({FORMAT_VERSION}); upgrade img2img"
        )
    return data


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load an img2img checkpoint (file or run directory) safely (``weights_only=True``)."""
    file = resolve_checkpoint(path)
    return check_checkpoint(read_checkpoint_file(file, map_location), file)
