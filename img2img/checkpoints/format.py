"""The checkpoint format: one dict of plain types and tensors, with checksums.

Layout (``FORMAT_VERSION`` 2)::

    {"format": "img2img-checkpoint", "format_version": 2, "family": "pix2pix",
     "config": RunConfig.to_dict(), "step": int, "epoch": int, "epoch_step": int,
     "nets": {name: state_dict}, "optimizers": {...}, "schedulers": {...},
     "scaler": state_dict | None, "rng": {...}, "extra": {...}, "trainer": {...},
     "checksums": {"algorithm": "crc32", "sections": {"config": int, "nets/G": int, ...}}}

Everything loads with ``torch.load(weights_only=True)``. Version 2 added ``checksums``: a CRC-32
of the contents of every top-level entry (each network separately), computed from the values
themselves (tensor dtypes, shapes and bytes; plain values by type and ``repr``), so a file
changed after it was written (a flipped bit on a disk or in a copy) is refused instead of
loading wrong weights. A reader verifies the sections it uses: ``translate`` the config and
the networks it runs, a resume everything. Version 1 files (no checksums) still load.

A run keeps its checkpoints in ``checkpoints/``: ``latest.pt`` (always the newest),
``step_00001000.pt`` (the newest few periodic ones, on request) and ``epoch_0005.pt``
(every few epochs, on request, never pruned).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

FORMAT = "img2img-checkpoint"
FORMAT_VERSION = 2
LATEST = "latest.pt"
CHECKPOINT_DIR = "checkpoints"
SUFFIX = ".pt"
CHECKSUM_ALGORITHM = "crc32"

#: the file names of periodic checkpoints (the step is the number)
STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
_FORMAT_KEYS = ("format", "format_version", "checksums")


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint."""


class RunNotStartedError(CheckpointError):
    """A run folder whose run stopped before its first checkpoint (its ``config.json`` says
    how it was started: :func:`img2img.cli.restart.restart_hint`)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"{run_dir}: no checkpoint found; the run stopped before its first "
                         "checkpoint")
        self.run_dir = run_dir


def step_checkpoint_name(step: int) -> str:
    """``step_00001000.pt``: the file name of the periodic checkpoint kept at ``step``."""
    return f"step_{step:08d}{SUFFIX}"


def epoch_checkpoint_name(epoch: int) -> str:
    """``epoch_0005.pt``: the file name of the checkpoint kept after ``epoch`` epochs."""
    return f"epoch_{epoch:04d}{SUFFIX}"


def section_names(data: Mapping[str, Any]) -> list[str]:
    """The checksummed sections of a checkpoint dict: its entries, each network on its own."""
    names = []
    for key, value in data.items():
        if key in _FORMAT_KEYS:
            continue
        if key == "nets" and isinstance(value, Mapping):
            names.extend(f"nets/{name}" for name in value)
        else:
            names.append(key)
    return names


def _section(data: Mapping[str, Any], name: str) -> Any:
    if name.startswith("nets/") and isinstance(data.get("nets"), Mapping):
        return data["nets"][name[len("nets/"):]]
    return data[name]


def section_checksums(data: Mapping[str, Any]) -> dict[str, int]:
    """CRC-32 of each section's contents (see the module doc)."""
    return {name: content_checksum(_section(data, name)) for name in section_names(data)}


def content_checksum(value: Any) -> int:
    """A CRC-32 of ``value``: nested dicts, lists and tuples of tensors and plain values.

    The same contents always give the same number, whatever file or device they came from.
    """
    return _crc(value, 0)


def _crc(value: Any, crc: int) -> int:
    if isinstance(value, torch.Tensor):
        t = value.detach()
        header = f"T{t.dtype}{tuple(t.shape)}".encode()
        crc = zlib.crc32(header, crc)
        flat = t.reshape(-1)
        if flat.numel():
            flat = flat.cpu().contiguous()
            return zlib.crc32(flat.view(torch.uint8).numpy(), crc)
        return crc
    if isinstance(value, Mapping):
        crc = zlib.crc32(b"D" + struct.pack("<q", len(value)), crc)
        for key, item in value.items():
            crc = _crc(item, _crc(key, crc))
        return crc
    if isinstance(value, (list, tuple)):
        tag = b"L" if isinstance(value, list) else b"U"
        crc = zlib.crc32(tag + struct.pack("<q", len(value)), crc)
        for item in value:
            crc = _crc(item, crc)
        return crc
    return zlib.crc32(f"{type(value).__name__}:{value!r};".encode(), crc)


def verify_checksums(
    data: Mapping[str, Any], file: str | os.PathLike, sections: Iterable[str] | None = None
) -> None:
    """Check ``sections`` (default: all) of a loaded checkpoint against its recorded checksums.

    Version 1 checkpoints carry none and pass unchecked.

    Raises:
        CheckpointError: a section's contents differ from what was written, or a version 2
            checkpoint lacks its checksums.
    """
    if data.get("format_version", 0) < 2:
        return
    record = data.get("checksums")
    recorded = record.get("sections") if isinstance(record, Mapping) else None
    if not isinstance(recorded, Mapping) or record.get("algorithm") != CHECKSUM_ALGORITHM:
        raise CheckpointError(
            f"{file}: damaged checkpoint: its checksum record is missing or unreadable"
        )
    names = section_names(data) if sections is None else list(sections)
    for name in names:
        if name not in recorded:
            raise CheckpointError(f"{file}: damaged checkpoint: no checksum for {name!r}")
        try:
            value = _section(data, name)
        except KeyError:
            raise CheckpointError(
                f"{file}: damaged checkpoint: {name!r} is missing although it was written"
            ) from None
        if content_checksum(value) != recorded[name]:
            raise CheckpointError(
                f"{file}: damaged checkpoint: the contents of {name!r} differ from what was "
                "written (the file changed after it was saved, e.g. a disk or copy error); "
                "use another checkpoint of the run"
            )


def require_entries(
    data: Mapping[str, Any], file: str | os.PathLike, entries: Mapping[str, type]
) -> None:
    """Fail naming the first of ``entries`` (name -> type) that ``data`` lacks or mistypes."""
    for key, kind in entries.items():
        value = data.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise CheckpointError(
                f"{file}: damaged checkpoint: {key!r} is missing or not a {kind.__name__}"
            )


def check_checkpoint(
    data: object, file: str | os.PathLike, verify: Iterable[str] | None = None
) -> dict:
    """``data`` if it is an img2img checkpoint this version can read; else a clear error.

    ``verify`` names the sections whose checksums are checked (see :func:`verify_checksums`);
    None checks them all.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{file}: not an img2img checkpoint (expected a dict with format {FORMAT!r}); "
            "bare published generator weights can be used with 'img2img translate'"
        )
    version = data.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format version {version!r} is newer than this img2img "
            f"supports ({FORMAT_VERSION}); upgrade img2img"
        )
    verify_checksums(data, file, verify)
    return data
