"""Finding images on disk and pairing A with B.

Nothing here decodes an image, so listing a 100k-image dataset costs one directory walk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from img2img.data.extensions import is_image_file

log = logging.getLogger(__name__)

_T = TypeVar("_T")

KNOWN_PHASES: tuple[str, ...] = ("train", "val", "test")
_SHOW = 5  # how many names a warning or error lists


class DatasetLayoutError(ValueError):
    """A dataset directory that holds no images in any accepted layout.

    Attributes:
        root: the dataset directory.
        phase: the split asked for.
    """

    def __init__(self, message: str, root: Path, phase: str) -> None:
        super().__init__(message)
        self.root = root
        self.phase = phase


@dataclass(frozen=True)
class Pair:
    """One training example.

    Attributes:
        a: the A image, or the side-by-side AB image when ``b`` is None.
        b: the B image; None for side-by-side layouts.
        key: the relative stem (path inside its side's folder, without extension).
    """

    a: Path
    b: Path | None
    key: str


@dataclass(frozen=True)
class PairedFiles:
    """The result of :func:`find_pairs`.

    Attributes:
        root: the dataset directory.
        phase: the split (``train``, ``val``, ``test`` ...).
        layout: which layout matched, e.g. ``"train/A + train/B"``.
        pairs: the examples, sorted by key.
        unpaired_a: A files without a B partner (empty for side-by-side layouts).
        unpaired_b: B files without an A partner.
        flat: the layout has no phase folders (``A + B``, or side-by-side files in ``root``), so
            every phase finds these same files.
    """

    root: Path
    phase: str
    layout: str
    pairs: list[Pair]
    unpaired_a: list[Path] = field(default_factory=list)
    unpaired_b: list[Path] = field(default_factory=list)
    flat: bool = False

    @property
    def side_by_side(self) -> bool:
        """True when each file holds A and B next to each other."""
        return bool(self.pairs) and self.pairs[0].b is None

    def __len__(self) -> int:
        return len(self.pairs)


def find_images(root: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """All image files under ``root``, sorted; hidden files and folders are skipped.

    Symbolic links to folders inside ``root`` are followed (each real folder is visited
    once); links to folders outside it are not (a warning names them).

    Raises:
        NotADirectoryError: ``root`` is not a directory.
    """
    return find_files(root, is_image_file, recursive)


def find_files(
    root: str | os.PathLike[str], accept: Callable[[str], bool], recursive: bool = True
) -> list[Path]:
    """All files under ``root`` whose name ``accept`` takes, sorted; hidden ones are skipped.

    Symbolic links to folders inside ``root`` are followed (each real folder is visited
    once); links to folders outside it are not (a warning names them).

    Raises:
        NotADirectoryError: ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory; expected a folder of images")
    found: list[Path] = []
    if not recursive:
        with os.scandir(root) as entries:
            found = [
                Path(e.path)
                for e in entries
                if not e.name.startswith(".") and accept(e.name) and e.is_file()
            ]
        return sorted(found)
    return sorted(_walk(root, accept))


def _walk(root: Path, accept: Callable[[str], bool]) -> list[Path]:
    """Accepted files under ``root``, hidden entries skipped.

    A symbolic link to a folder is followed only when the folder lies inside ``root`` and has
    not been visited yet (each real folder is visited once, so a link cycle ends); the links
    not followed are named in one warning.
    """
    real_root = os.path.realpath(root)
    visited = {_identity(root)}
    skipped: list[str] = []
    found: list[Path] = []
    folders = [str(root)]
    while folders:
        try:
            with os.scandir(folders.pop()) as scan:
                entries = sorted(scan, key=lambda e: e.name, reverse=True)
        except OSError as exc:
            skipped.append(f"{exc.filename} (unreadable: {exc.strerror})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if not is_folder_entry(entry):
                if accept(entry.name):
                    found.append(Path(entry.path))
                continue
            why = _not_followed(entry, real_root, visited)
            if why:
                skipped.append(f"{entry.path} -> {os.path.realpath(entry.path)} ({why})")
            elif why is None:
                folders.append(entry.path)
    if skipped:
        more = f" and {len(skipped) - _SHOW} more" if len(skipped) > _SHOW else ""
        log.warning("%s: skipped %d folder(s): %s%s", root, len(skipped),
                    "; ".join(skipped[:_SHOW]), more)
    return found


def is_folder_entry(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a folder or a link to one (a link loop is not)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _identity(path: str | os.PathLike[str]) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _not_followed(entry: os.DirEntry[str], real_root: str, visited: set[tuple[int, int]]
                  ) -> str | None:
    """None to walk into the folder ``entry``; else why not: a reason for a link, "" for a
    plain folder seen already (a bind mount)."""
    try:
        identity = _identity(entry.path)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    link = entry.is_symlink()
    if link:
        real = os.path.realpath(entry.path)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            return "outside the input folder"
    if identity in visited:
        return "visited already" if link else ""
    visited.add(identity)
    return None


def accepted_layouts(root: str | os.PathLike[str], phase: str) -> list[str]:
    """The layouts :func:`find_pairs` accepts, spelled out for ``root`` and ``phase``."""
    name = Path(root).name or Path(root).resolve().name
    return [
        f"{name}/{phase}/*.jpg (A|B side by side)",
        f"{name}/{phase}/A + {name}/{phase}/B",
        f"{name}/A/{phase} + {name}/B/{phase}",
        f"{name}/{phase}A + {name}/{phase}B",
        f"{name}/{phase}_A + {name}/{phase}_B",
        f"{name}/A + {name}/B (no {phase} folder)",
        f"{name}/*.jpg (A|B side by side, no {phase} folder)",
    ]


@dataclass(frozen=True)
class SplitFiles:
    """The images of one split, found in an accepted layout but not paired.

    Attributes:
        root: the dataset directory.
        phase: the split asked for.
        layout: which layout matched, e.g. ``"trainA + trainB"``.
        dir_a: the folder of the A images, or of the side-by-side images.
        files_a: the A images (or the side-by-side images), sorted.
        dir_b: the folder of the B images; None for side-by-side layouts.
        files_b: the B images, sorted; empty for side-by-side layouts.
        flat: the layout has no phase folders, so every phase finds these same files.
    """

    root: Path
    phase: str
    layout: str
    dir_a: Path
    files_a: list[Path]
    dir_b: Path | None = None
    files_b: list[Path] = field(default_factory=list)
    flat: bool = False

    @property
    def side_by_side(self) -> bool:
        """True when each file holds A and B next to each other."""
        return self.dir_b is None


def locate_split(root: str | os.PathLike[str], phase: str) -> SplitFiles:
    """Find the images of the ``phase`` split in the first layout that holds any.

    Layouts are tried in the order of :func:`accepted_layouts`; nothing is paired or decoded.

    Raises:
        DatasetLayoutError: ``root`` is missing or holds no images in any accepted layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise _layout_error(f"dataset directory {root} does not exist", root, phase)
    phase_dir = root / phase

    if phase_dir.is_dir() and not _has_ab(phase_dir):
        images = find_images(phase_dir)
        if images:
            return SplitFiles(root, phase, f"{phase}/* (A|B side by side)", phase_dir, images)

    two_folder = [  # (layout, A folder, B folder, flat)
        (f"{phase}/A + {phase}/B", phase_dir / "A", phase_dir / "B", False),
        (f"A/{phase} + B/{phase}", root / "A" / phase, root / "B" / phase, False),
        (f"{phase}A + {phase}B", root / f"{phase}A", root / f"{phase}B", False),
        (f"{phase}_A + {phase}_B", root / f"{phase}_A", root / f"{phase}_B", False),
    ]
    if not phase_dir.exists() and _has_ab(root) and not _has_phase_dirs(root / "A", phase):
        two_folder.append(("A + B", root / "A", root / "B", True))
    for layout, dir_a, dir_b, flat in two_folder:
        if dir_a.is_dir() and dir_b.is_dir():
            files_a, files_b = find_images(dir_a), find_images(dir_b)
            if files_a or files_b:
                return SplitFiles(root, phase, layout, dir_a, files_a, dir_b, files_b, flat)

    if not phase_dir.exists():
        images = find_images(root, recursive=False)
        if images:
            return SplitFiles(root, phase, "* (A|B side by side)", root, images, flat=True)

    raise _layout_error(f"no images for phase {phase!r} under {root}", root, phase)


def find_pairs(root: str | os.PathLike[str], phase: str) -> PairedFiles:
    """Find the ``phase`` split of a paired dataset and match A files with B files.

    Layouts are tried in the order of :func:`accepted_layouts` (see :func:`locate_split`).
    Two-folder layouts pair files by relative stem, so ``A/x/1.png`` pairs with ``B/x/1.jpg``;
    files without a partner are logged as a warning and returned in ``unpaired_a`` /
    ``unpaired_b``.

    Raises:
        DatasetLayoutError: ``root`` is missing, holds no images in any accepted layout, or its A
            and B folders share no file names.
    """
    split = locate_split(root, phase)
    if split.dir_b is not None:
        return _pair_folders(split, split.dir_b)
    pairs = [Pair(a=p, b=None, key=relative_stem(p, split.dir_a)) for p in split.files_a]
    log.debug("%s: %d side-by-side images for phase %r", split.root, len(pairs), phase)
    return PairedFiles(split.root, phase, split.layout, pairs, flat=split.flat)


def pair_folders(
    dir_a: str | os.PathLike[str], dir_b: str | os.PathLike[str], phase: str = ""
) -> PairedFiles:
    """Pair the images of two folders by relative path without extension, as two-folder layouts do.

    Args:
        dir_a: the A folder (searched recursively).
        dir_b: the B folder.
        phase: the split the folders hold, for the result and messages (may be empty).

    Raises:
        DatasetLayoutError: a folder is missing, or the two share no file names.
    """
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    for folder in (dir_a, dir_b):
        if not folder.is_dir():
            raise DatasetLayoutError(
                f"{folder} is not a folder; expected a folder of images", folder, phase
            )
    layout = f"{dir_a} + {dir_b}"
    split = SplitFiles(dir_a, phase, layout, dir_a, find_images(dir_a), dir_b, find_images(dir_b))
    return _pair_folders(split, dir_b)


def split_ab(image: _T, source: str | os.PathLike[str] | None = None) -> tuple[_T, _T]:
    """Cut a side-by-side image ``(..., H, W)`` into its left (A) and right (B) parts.

    A is columns ``[0, W // 2)`` and B ``[W // 2, W)``, as in the reference code, so an odd width
    gives a B one column wider than A.

    Args:
        image: a tensor or array whose last dimension is the width.
        source: the file it came from, named in the error message.

    Raises:
        ValueError: the image is narrower than 2 columns, so a part would be empty.
    """
    width = image.shape[-1]
    if width < 2:
        name = source if source is not None else "side-by-side image"
        raise ValueError(
            f"{name}: width {width} cannot be split; expected A and B side by side, "
            "at least 2 columns"
        )
    half = width // 2
    return image[..., :half], image[..., half:]


def _has_ab(folder: Path) -> bool:
    return (folder / "A").is_dir() and (folder / "B").is_dir()


def _has_phase_dirs(folder: Path, phase: str) -> bool:
    names = {*KNOWN_PHASES, phase}
    return any((folder / name).is_dir() for name in names)


def relative_stem(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` without its extension, with ``/``: how files are paired."""
    return path.relative_to(base).with_suffix("").as_posix()


def _index_by_key(base: Path, files: Sequence[Path]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in files:
        key = relative_stem(path, base)
        if key in index:
            log.warning(
                "%s: %s and %s share the name %r; using %s",
                base,
                index[key].name,
                path.name,
                key,
                index[key].name,
            )
            continue
        index[key] = path
    return index


def _pair_folders(split: SplitFiles, dir_b: Path) -> PairedFiles:
    """Match the A and B files of a two-folder split (B in ``dir_b``) by relative stem."""
    root, phase, layout = split.root, split.phase, split.layout
    dir_a, files_a, files_b = split.dir_a, split.files_a, split.files_b
    index_a, index_b = _index_by_key(dir_a, files_a), _index_by_key(dir_b, files_b)
    keys = sorted(index_a.keys() & index_b.keys())
    unpaired_a = sorted(index_a[k] for k in index_a.keys() - index_b.keys())
    unpaired_b = sorted(index_b[k] for k in index_b.keys() - index_a.keys())
    if not keys:
        raise DatasetLayoutError(
            f"{dir_a} and {dir_b} share no file names ({len(files_a)} and {len(files_b)} images); "
            "expected A and B files with the same relative name, extensions may differ "
            f"(A has {_first_names(files_a, dir_a)}; B has {_first_names(files_b, dir_b)})",
            root,
            phase,
        )
    sides = (("A", unpaired_a, dir_a, dir_b), ("B", unpaired_b, dir_b, dir_a))
    for side, unpaired, base, other in sides:
        if unpaired:
            log.warning(
                "%s: %d %s file(s) have no partner in %s and are left out (first: %s)",
                base,
                len(unpaired),
                side,
                other,
                _first_names(unpaired, base),
            )
    pairs = [Pair(a=index_a[k], b=index_b[k], key=k) for k in keys]
    return PairedFiles(
        root=root,
        phase=phase,
        layout=layout,
        pairs=pairs,
        unpaired_a=unpaired_a,
        unpaired_b=unpaired_b,
        flat=split.flat,
    )


def _first_names(files: Sequence[Path], base: Path) -> str:
    if not files:
        return "none"
    shown = ", ".join(p.relative_to(base).as_posix() for p in files[:_SHOW])
    return shown + (", ..." if len(files) > _SHOW else "")


def _layout_error(message: str, root: Path, phase: str) -> DatasetLayoutError:
    expected = ", ".join(accepted_layouts(root, phase))
    return DatasetLayoutError(f"{message}; expected one of: {expected}", root, phase)


def split_image_bits(root: str | os.PathLike[str], phase: str) -> int:
    """16 when the first images of the ``phase`` split of ``root`` (A and B) hold 16 bits per
    value, else 8 (also when the split cannot be found or read: the data check reports it)."""
    from img2img.data.io import read_header  # decoding libraries only when asked

    try:
        split = locate_split(root, phase)
        firsts = [files[0] for files in (split.files_a, split.files_b) if files]
        return 16 if firsts and max(read_header(f).bits for f in firsts) >= 16 else 8
    except (OSError, ValueError):
        return 8
