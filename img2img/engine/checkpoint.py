"""Checkpoint files: one dict of plain types and tensors, written atomically, with checksums.

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
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from img2img.atomic import atomic_link, atomic_write

FORMAT = "img2img-checkpoint"
FORMAT_VERSION = 2
LATEST = "latest.pt"
CHECKPOINT_DIR = "checkpoints"
SUFFIX = ".pt"
CHECKSUM_ALGORITHM = "crc32"

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
_FORMAT_KEYS = ("format", "format_version", "checksums")
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint."""


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (disk full, file-size limit, read-only folder).

    The file at the target path, if there was one, is unchanged.
    """


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (without format keys) to ``path`` atomically and return the path.

    Tensors are moved to the CPU first and a checksum of every section is recorded.

    Raises:
        CheckpointWriteError: the file could not be written; ``path`` is unchanged.
    """
    path = Path(path)
    payload = _to_cpu(payload)
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **payload,
        "checksums": {"algorithm": CHECKSUM_ALGORITHM, "sections": section_checksums(payload)},
    }
    try:
        atomic_write(path, lambda f: torch.save(data, f), sync_dir=True)
    except (OSError, RuntimeError) as exc:
        reason = _write_failure(exc)
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {reason}") from exc
    return path


def _write_failure(exc: BaseException) -> str:
    """Why a write failed, in words: the OSError behind torch's writer error if there is one."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror + _limit_hint(cause.errno)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _limit_hint(errno_value: int | None) -> str:
    import errno

    if errno_value == errno.EFBIG:
        return " (the file-size limit, ulimit -f, is smaller than the checkpoint)"
    if errno_value in (errno.ENOSPC, errno.EDQUOT):
        return " (free some space, or write the run to another disk)"
    return ""


def _to_cpu(value: Any) -> Any:
    """``value`` with every tensor on the CPU (copied only where it was elsewhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        out = type(value)((k, _to_cpu(v)) for k, v in value.items())
        metadata = getattr(value, "_metadata", None)  # state_dict versions
        if metadata is not None:
            out._metadata = metadata
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


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
            raise CheckpointError(f"{path}: no checkpoint found; {_missing_checkpoint(path)}")
        return candidate
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file or run directory")
    return path


def _missing_checkpoint(path: Path) -> str:
    """What to do about a folder without a latest checkpoint: a run stopped before its first
    checkpoint is started again (the command from its config), anything else is not a run."""
    if (path / "config.json").is_file() and not any((path / CHECKPOINT_DIR).glob("*.pt")):
        from img2img.engine.restart import restart_hint

        return f"the run stopped before its first checkpoint; {restart_hint(path)}"
    return (f"expected a run directory holding {CHECKPOINT_DIR}/{LATEST} or a checkpoint file "
            "(.pt/.pth)")


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


def state_mismatch(expected: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    """How ``state`` differs from the layout of ``expected`` (a network's state_dict), or None.

    Only names and shapes are compared, so ``expected`` may live on the meta device.
    """
    if not isinstance(state, Mapping):
        return f"expected a state_dict, got {type(state).__name__}"
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, first {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, first {unexpected[0]!r}")
        return "entries " + "; ".join(parts)
    for key, value in expected.items():
        given = state[key]
        if not isinstance(given, torch.Tensor):
            return f"{key!r} is a {type(given).__name__} in the file, not a tensor"
        if tuple(given.shape) != tuple(value.shape):
            return (
                f"{key!r} is {list(given.shape)} in the file but {list(value.shape)} for the "
                "configured network"
            )
    return None


def check_layouts(expected: Mapping[str, Any], states: Mapping[str, Any], source: Any) -> None:
    """Fail unless ``states`` holds a state_dict of each network's layout in ``expected``.

    ``expected`` maps network names to modules (on the meta device, typically); ``source``
    names the file in the message (None: no name).

    Raises:
        CheckpointError: a network is missing or its layout differs.
    """
    named = f"{source}: " if source is not None else ""
    for name, net in expected.items():
        if name not in states:
            raise CheckpointError(f"{named}the checkpoint holds no network {name!r}")
        problem = state_mismatch(net.state_dict(), states[name])
        if problem is not None:
            raise CheckpointError(
                f"{named}the weights of network {name!r} do not fit the network its config "
                f"describes ({problem})"
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


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load an img2img checkpoint (file or run directory) safely (``weights_only=True``).

    Every checksum is verified.
    """
    file = resolve_checkpoint(path)
    return check_checkpoint(read_checkpoint_file(file, map_location), file)
