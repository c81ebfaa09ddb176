"""The split names a dataset folder offers, read from its folder names (nothing is decoded).

``datasets check`` asks every family's discovery for each of these names, so a layout is
judged on the whole folder rather than on one split.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from img2img.data.discover import KNOWN_PHASES, is_folder_entry
from img2img.data.labelmaps import FOLDER_NAMES

#: folders that hold one side or stream, with the splits inside them (``A/train``,
#: ``label/test``); never a split themselves
_STREAM_FOLDERS = frozenset({"A", "B", *(n for names in FOLDER_NAMES.values() for n in names)})
#: ``trainA``, ``train_B``: a split and a side
_SIDE = re.compile(r"^(?P<split>.+?)_?[AB]$")
#: ``train_label``, ``test_inst``, ``val_img``: a split and a stream
_STREAM = re.compile(
    r"^(?P<split>.+)_(" + "|".join(sorted(n for names in FOLDER_NAMES.values() for n in names))
    + r"|feat)$"
)


def split_names(root: str | os.PathLike[str]) -> list[str]:
    """The names that may be splits of ``root``: ``train``, ``val``, ``test`` first, then
    the others its folders suggest, sorted.

    A folder ``X/``, ``XA/``, ``X_B/``, ``X_label/`` ... or ``A/X/`` suggests ``X`` (and a
    side or stream folder nothing else); hidden folders are skipped. A name is only a
    candidate: a family's discovery decides whether it holds a split.
    """
    found: set[str] = set()
    for folder in _subfolders(Path(root)):
        if folder.name in _STREAM_FOLDERS:
            found.update(inner.name for inner in _subfolders(folder))
            continue
        match = _STREAM.match(folder.name) or _SIDE.match(folder.name)
        found.add(match["split"] if match else folder.name)
    return [*KNOWN_PHASES, *sorted(found - set(KNOWN_PHASES))]


def _subfolders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries
                      if not e.name.startswith(".") and is_folder_entry(e))

