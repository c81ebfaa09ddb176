"""Checkpoint files: one dict of plain types and tensors, written atomically.

Layout (``FORMAT_VERSION`` 1)::

    {"format": "img2img-checkpoint", "format_version": 1, "family": "pix2pix",
     "config": RunConfig.to_dict(), "step": int, "epoch": int, "epoch_step": int,
     "nets": {name: state_dict}, "optimizers": {...}, "schedulers": {...},
     "scaler": state_dict | None, "rng": {...}, "extra": {...}}

Everything loads with ``torch.load(weights_only=True)``.

A run keeps its checkpoints in ``checkpoints/``: ``latest.pt`` (always the newest),
``step_00001000.pt`` (the newest few periodic ones, on request) and ``epoch_0005.pt``
(every few epochs, on request, never pruned).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from img2img.atomic import atomic_link, atomic_write

FORMAT = "img2img-checkpoint"
FORMAT_VERSION = 1
LATEST = "latest.pt"
CHECKPOINT_DIR = "checkpoints"
SUFFIX = ".pt"

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (without format keys) to ``path`` atomically and return the path."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    atomic_write(path, lambda f: torch.save(data, f), sync_dir=True)
    return path


def step_checkpoint_name(step: int) -> str:
    """``step_00001000.pt``: the file name of the periodic checkpoint kept at ``step``."""
    return f"step_{step:08d}{SUFFIX}"


def epoch_checkpoint_name(epoch: int) -> str:
    """``epoch_0005.pt``: the file name of the checkpoint kept after ``epoch`` epochs."""
    return f"epoch_{epoch:04d}{SUFFIX}"


def keep_copy(checkpoint: str | os.PathLike, name: str) -> Path:
    """Keep the finished ``checkpoint`` also as ``name`` in its folder (atomically)."""
    checkpoint = Path(checkpoint)
    return atomic_link(checkpoint, checkpoint.with_name(name), sync_dir=True)


def prune_step_checkpoints(directory: str | os.PathLike, keep: int) -> list[Path]:
    """Delete the step-named checkpoints in ``directory`` beyond the newest ``keep``.

    Returns the deleted files. ``latest.pt``, epoch-named and other files are never touched.
    """
    steps = sorted(
        (int(m.group(1)), p)
        for p in Path(directory).iterdir()
        if (m := _STEP_FILE.match(p.name)) and p.is_file()
    )
    doomed = [p for _, p in steps[: max(0, len(steps) - keep)]]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


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
    whole.
    """
    zipped = zipfile.is_zipfile(file)
    try:
        return torch.load(
            file, map_location=map_location, weights_only=True, mmap=mmap and zipped
        )
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one message
        raise CheckpointError(f"{file}: {_load_failure(exc, zipped)}") from exc


def _load_failure(exc: Exception, zipped: bool) -> str:
    """The reason ``torch.load`` failed, in words."""
    text = str(exc)
    if "GLOBAL" in text or "Unsupported global" in text:
        first = next((line for line in text.splitlines() if "GLOBAL" in line.upper()
                      and "load" in line.lower()), "")
        return (
            "refused: it holds Python objects, not only tensors and plain values "
            f"(loading never runs code from a file){': ' + first.strip() if first else ''}"
        )
    if zipped:
        return f"a damaged or truncated checkpoint ({text.splitlines()[0] if text else exc!r})"
    return "not a PyTorch checkpoint or state_dict"


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
