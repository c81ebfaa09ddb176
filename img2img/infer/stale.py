"""Remove the temp files an interrupted ``translate`` left in the folders it writes to.

Outputs are written under a temp name and renamed when whole
(:mod:`img2img.atomic`: ``.<name>.<hex>.tmp``, or ``.<stem>.<hex>.tmp<suffix>`` for videos);
a process killed mid-write leaves its temp file behind. The next run into the same folder
removes those files: only names of that pattern, only in the folders it writes outputs to,
and only files unmodified for :data:`STALE_AFTER_S` seconds, so a write another process is
doing right now into the same folder (images are written in one go, videos grow frame by
frame) is never cut short.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from img2img.atomic import is_temp_name

__all__ = ["STALE_AFTER_S", "remove_stale_outputs"]

log = logging.getLogger(__name__)

#: a temp file unmodified for this long belongs to no running write
STALE_AFTER_S = 60.0


def remove_stale_outputs(folders: Iterable[str | os.PathLike],
                         stale_after: float = STALE_AFTER_S) -> list[Path]:
    """Delete the stale temp files in ``folders`` (not their subfolders); return them."""
    cutoff = time.time() - stale_after
    removed: list[Path] = []
    for folder in sorted({Path(f) for f in folders}):
        try:
            entries = list(os.scandir(folder))
        except OSError:  # not created yet, or unreadable: nothing of ours is there
            continue
        for entry in entries:
            if not is_temp_name(entry.name):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if entry.is_file(follow_symlinks=False) and info.st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    if removed:
        log.info("removed %d unfinished output file(s) an interrupted run left behind (%s)",
                 len(removed), ", ".join(str(p) for p in removed[:3])
                 + (", ..." if len(removed) > 3 else ""))
    return removed
