"""Test-time resizing, as the reference code's test script does it.

A :class:`Resizing` says what size an input is translated at (``resize``: a square of
``load_size``; ``scale_width``: ``load_size`` wide, keeping the aspect ratio; ``none``: its own
size) and whether the output goes back to the input's size. The network's size multiple is
never a constraint here: inputs are reflect-padded to it and cropped back
(:mod:`img2img.infer.padding`). :func:`run_resizing` is the default of a trained run: its own
training preprocess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: test-time preprocess modes (``--preprocess``)
TEST_PREPROCESS = ("resize", "scale_width", "none")


@dataclass(frozen=True)
class Resizing:
    """How an input is resized before it is translated.

    Attributes:
        preprocess: one of :data:`TEST_PREPROCESS`.
        load_size: the square's side (``resize``) or the width (``scale_width``).
        restore: resize each output back to its input's size.
    """

    preprocess: str = "none"
    load_size: int | None = None
    restore: bool = False

    def __post_init__(self) -> None:
        if self.preprocess not in TEST_PREPROCESS:
            raise ValueError(f"--preprocess: {self.preprocess!r} is not valid; expected one "
                             f"of: {', '.join(TEST_PREPROCESS)}")
        if self.preprocess != "none" and self.load_size is None:
            raise ValueError(f"--preprocess {self.preprocess}: needs --load-size N")
        if self.load_size is not None and self.load_size < 1:
            raise ValueError(f"--load-size: {self.load_size} is not valid; expected a "
                             "number >= 1")

    @property
    def resizes(self) -> bool:
        """Whether any input may change size."""
        return self.preprocess != "none"

    def target(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an input of ``height`` x ``width`` is translated at."""
        if self.preprocess == "resize":
            assert self.load_size is not None
            return self.load_size, self.load_size
        if self.preprocess == "scale_width":
            assert self.load_size is not None
            return max(1, round(height * self.load_size / width)), self.load_size
        return height, width

    def describe(self) -> str:
        """In words, for the command's summary."""
        if not self.resizes:
            return "at each input's own size"
        shape = (f"{self.load_size}x{self.load_size}" if self.preprocess == "resize"
                 else f"{self.load_size} wide")
        return f"resized to {shape}" + (", outputs back to the input size" if self.restore
                                       else "")


#: no resizing: each input at its own size
NO_RESIZING = Resizing()


def run_resizing(config: Any) -> Resizing:
    """The test-time resizing of a run trained with ``config`` (None: published weights,
    which are translated at each input's own size).

    As in the reference's test options (load size = crop size): ``resize_and_crop`` resizes
    to the crop size, ``scale_width`` and ``scale_width_and_crop`` scale to the load size's
    width, ``crop`` and ``none`` keep the input's size.
    """
    data = getattr(config, "data", None)
    if data is None:
        return NO_RESIZING
    if data.preprocess == "resize_and_crop":
        return Resizing("resize", data.crop_size)
    if data.preprocess in ("scale_width", "scale_width_and_crop"):
        return Resizing("scale_width", data.load_size)
    return NO_RESIZING


def choose_resizing(config: Any, preprocess: str | None, load_size: int | None,
                    restore: bool, size: int | None = None) -> Resizing:
    """The resizing the flags ask for: ``--size`` (a square), ``--preprocess`` and
    ``--load-size`` (either defaults to the run's own), or the run's training preprocess."""
    if size is not None:
        if preprocess is not None or load_size is not None:
            raise ValueError("--size: cannot be combined with --preprocess or --load-size "
                             "(--size N is --preprocess resize --load-size N)")
        return Resizing("resize", size, restore)
    own = run_resizing(config)
    if preprocess is None:
        if load_size is not None and not own.resizes:
            raise ValueError(f"--load-size {load_size}: needs --preprocess resize or "
                             "scale_width (this model is translated at its inputs' size)")
        preprocess = own.preprocess
    if preprocess == "none":
        if load_size is not None:
            raise ValueError(f"--load-size {load_size}: not used with --preprocess none")
        return Resizing("none", None, restore)
    if load_size is None:
        load_size = own.load_size
    if load_size is None:
        raise ValueError(f"--preprocess {preprocess}: needs --load-size N (this model has no "
                         "run configuration to take it from)")
    return Resizing(preprocess, load_size, restore)
