"""What an evaluation translates and scores: the inputs of a split, their targets, the real set.

A family says, for a dataset split, which file (or half of a side-by-side file) each example's
input is, which image is its target when the data is paired, and which real images the outputs
are compared with as a distribution (:class:`EvalSplit`). Evaluation then translates the inputs
exactly as ``img2img translate`` would and scores the outputs against those images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from img2img.data.discover import PairedFiles, SplitFiles, find_images, relative_stem, split_ab
from img2img.data.io import read_image

#: halves of a side-by-side AB image, left to right
HALVES = ("A", "B")


@dataclass(frozen=True)
class ImageRef:
    """An image file, or one half of a side-by-side ``A|B`` file.

    Attributes:
        path: the file.
        half: ``"A"`` (left) or ``"B"`` (right) of a side-by-side image; None for the whole file.
    """

    path: Path
    half: str | None = None

    def __post_init__(self) -> None:
        if self.half is not None and self.half not in HALVES:
            raise ValueError(f"half: {self.half!r} is not valid; expected A, B or None")

    def read(self, channels: int = 3) -> torch.Tensor:
        """The image as float32 ``channels x H x W`` in ``[0, 1]``.

        Raises:
            ImageReadError: the file cannot be read.
            ValueError: a side-by-side file too narrow to split.
        """
        image = read_image(self.path, channels=channels)
        if self.half is None:
            return image
        return split_ab(image, self.path)[HALVES.index(self.half)]

    def __str__(self) -> str:
        return str(self.path) if self.half is None else f"{self.path} [{self.half} half]"


@dataclass(frozen=True)
class EvalExample:
    """One input to translate and, for paired data, the image it should become.

    Attributes:
        key: the input's path relative to its folder, with ``/`` (as ``translate`` names it:
            it seeds the image's dropout noise and names its output).
        input: the input image (a half of a side-by-side file when the split's
            ``input_half`` is set).
        target: the ground truth for paired metrics; None for unpaired data.
    """

    key: str
    input: Path
    target: ImageRef | None = None


@dataclass(frozen=True)
class EvalSplit:
    """The examples of one dataset split, as evaluation needs them.

    Attributes:
        examples: the inputs to translate, sorted by key.
        references: the real images the outputs are compared with as a set (FID, KID).
        input_half: ``"A"``/``"B"`` when every input is that half of a side-by-side file.
        description: where the data came from, for records (``datasets/facades [test], ...``).
    """

    examples: list[EvalExample]
    references: list[ImageRef]
    input_half: str | None = None
    description: str = ""

    @property
    def paired(self) -> bool:
        """Whether every example has a target."""
        return bool(self.examples) and all(e.target is not None for e in self.examples)

    def head(self, limit: int | None) -> EvalSplit:
        """The first ``limit`` examples (and as many references); all of them for None."""
        if limit is None:
            return self
        if limit < 1:
            raise ValueError(f"limit: {limit!r} is not valid; expected a number >= 1")
        return EvalSplit(self.examples[:limit], self.references[:limit], self.input_half,
                         self.description)


def paired_split(files: PairedFiles, swap: bool = False) -> EvalSplit:
    """The :class:`EvalSplit` of a paired split: inputs A (B with ``swap``), targets the other.

    Side-by-side files give both halves of one file.
    """
    examples = []
    for pair in files.pairs:
        if pair.b is None:
            source, target = pair.a, ImageRef(pair.a, "A" if swap else "B")
        else:
            source, other = (pair.b, pair.a) if swap else (pair.a, pair.b)
            target = ImageRef(other)
        examples.append(EvalExample(f"{pair.key}{source.suffix}", source, target))
    half = ("B" if swap else "A") if files.side_by_side else None
    return EvalSplit(
        examples=examples,
        references=[e.target for e in examples if e.target is not None],
        input_half=half,
        description=f"{files.root} [{files.phase}], layout {files.layout}, "
        f"{'BtoA' if swap else 'AtoB'}",
    )


def unpaired_split(files: SplitFiles, swap: bool = False) -> EvalSplit:
    """The :class:`EvalSplit` of an unpaired split: inputs A (B with ``swap``), no targets, and
    the other side's images as the real set the outputs are compared with (FID, KID).

    Side-by-side files give their A half as input and their B half as a real image.
    """
    side, other = ("B", "A") if swap else ("A", "B")
    if files.side_by_side:
        inputs, base = files.files_a, files.dir_a
        references = [ImageRef(p, other) for p in files.files_a]
    else:
        sides = {"A": (files.files_a, files.dir_a), "B": (files.files_b, files.dir_b)}
        inputs, base = sides[side]
        references = [ImageRef(p) for p in sides[other][0]]
    examples = [EvalExample(p.relative_to(base).as_posix(), p) for p in inputs]
    return EvalSplit(
        examples=examples,
        references=references,
        input_half=side if files.side_by_side else None,
        description=f"{files.root} [{files.phase}], layout {files.layout}, unpaired, "
        f"{side}to{other}",
    )


@dataclass(frozen=True)
class FolderPairs:
    """Two folders of images matched by relative path and stem (:func:`pair_folders`).

    Attributes:
        pairs: ``(key, real, fake)`` for each stem found in both, sorted by key.
        reals: every image of the real folder.
        fakes: every image of the fake folder.
    """

    pairs: list[tuple[str, Path, Path]]
    reals: list[Path]
    fakes: list[Path]


def pair_folders(real_dir: str | os.PathLike, fake_dir: str | os.PathLike) -> FolderPairs:
    """Match the images of two folders by relative path and stem (``x/1.jpg`` with ``x/1.png``).

    Raises:
        NotADirectoryError: a folder does not exist.
        ValueError: a folder holds no images, or two files of one folder share a stem.
    """
    indexes = []
    found = []
    for folder in (Path(real_dir), Path(fake_dir)):
        files = find_images(folder)
        if not files:
            raise ValueError(f"{folder}: no images found; expected a folder of image files")
        found.append(files)
        indexes.append(_index(folder, files))
    real, fake = indexes
    keys = sorted(real.keys() & fake.keys())
    return FolderPairs([(k, real[k], fake[k]) for k in keys], found[0], found[1])


def _index(folder: Path, files: Sequence[Path]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in files:
        key = relative_stem(path, folder)
        if key in index:
            raise ValueError(
                f"{folder}: {index[key].name} and {path.name} share the name {key!r}; "
                "expected one image per name"
            )
        index[key] = path
    return index
