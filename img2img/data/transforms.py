"""Paired augmentation: the same resize, crop and flip for A and B.

Every random number comes from the ``torch.Generator`` passed in, so a sample is a pure function
of its seed, whatever process or worker computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from img2img.config import PREPROCESS_MODES, ConfigError, check_choice

SIZE_MULTIPLE = 4  # preprocess "none" rounds sizes to a multiple of this, like the reference code


@dataclass(frozen=True)
class PairedParams:
    """The random choices for one sample, shared by A and B.

    Attributes:
        resize: ``(height, width)`` to resize to first, or None.
        crop: ``(top, left, height, width)`` to cut after resizing, or None.
        flip: mirror left-right at the end.
    """

    resize: tuple[int, int] | None
    crop: tuple[int, int, int, int] | None
    flip: bool


@dataclass(frozen=True)
class PairedTransform:
    """Resize / crop / flip two aligned images identically.

    Modes (as in the pix2pix reference): ``resize_and_crop`` (resize to ``load_size`` square,
    random ``crop_size`` crop), ``crop`` (random crop of the original), ``scale_width`` (width to
    ``load_size`` keeping the aspect ratio, height at least ``crop_size``),
    ``scale_width_and_crop`` (that, then a random crop), ``none`` (resize so both sides are
    multiples of 4). Resizing is bicubic with antialiasing, clamped back to ``[0, 1]``.

    Attributes:
        preprocess: one of :data:`img2img.config.PREPROCESS_MODES`.
        load_size: resize target (square side, or width for the ``scale_width`` modes).
        crop_size: side of the square random crop.
        flip: random horizontal flip with probability 0.5.
    """

    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True

    def __post_init__(self) -> None:
        check_choice("preprocess", self.preprocess, PREPROCESS_MODES)
        for name in ("load_size", "crop_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: {getattr(self, name)!r} is not valid; expected > 0")
        resizes_first = self.preprocess in ("resize_and_crop", "scale_width_and_crop")
        if resizes_first and self.crop_size > self.load_size:
            raise ConfigError(
                f"crop_size: {self.crop_size} is larger than load_size {self.load_size}; "
                f"expected crop_size <= load_size with preprocess {self.preprocess!r}"
            )

    def get_params(self, height: int, width: int, generator: torch.Generator) -> PairedParams:
        """Draw the resize, crop and flip for an image of ``height x width``.

        Always draws exactly three numbers from ``generator``, whatever the mode.

        Raises:
            ValueError: mode ``crop`` on an image smaller than ``crop_size``.
        """
        u_top, u_left, u_flip = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
        resize = self._resize_target(height, width)
        if resize is not None:
            height, width = resize
        crop = None
        if "crop" in self.preprocess:
            size = self.crop_size
            if height < size or width < size:
                raise ValueError(
                    f"crop_size {size} is larger than the image ({height}x{width} after "
                    f"preprocess {self.preprocess!r}); expected images of at least {size}x{size}, "
                    "or use preprocess resize_and_crop"
                )
            top = min(int(u_top * (height - size + 1)), height - size)
            left = min(int(u_left * (width - size + 1)), width - size)
            crop = (top, left, size, size)
        return PairedParams(resize=resize, crop=crop, flip=self.flip and u_flip < 0.5)

    def apply(self, image: torch.Tensor, params: PairedParams) -> torch.Tensor:
        """Apply drawn parameters to one ``C x H x W`` image."""
        if params.resize is not None:
            image = resize_bicubic(image, params.resize)
        if params.crop is not None:
            top, left, h, w = params.crop
            image = image[..., top : top + h, left : left + w]
        if params.flip:
            image = image.flip(-1)
        return image.contiguous()

    def __call__(
        self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform A and B (``C x H x W`` in ``[0, 1]``, channel counts may differ) alike.

        A B of another size than A is first resized to A's size, so the two stay aligned.
        """
        if a.ndim != 3 or b.ndim != 3:
            raise ValueError(
                f"expected C x H x W images, got A {tuple(a.shape)} and B {tuple(b.shape)}"
            )
        if b.shape[-2:] != a.shape[-2:]:
            b = resize_bicubic(b, (a.shape[-2], a.shape[-1]))
        params = self.get_params(a.shape[-2], a.shape[-1], generator)
        return self.apply(a, params), self.apply(b, params)

    def _resize_target(self, height: int, width: int) -> tuple[int, int] | None:
        mode = self.preprocess
        if mode == "resize_and_crop":
            return (self.load_size, self.load_size)
        if mode.startswith("scale_width"):
            if width == self.load_size and height >= self.crop_size:
                return None
            return (int(max(self.load_size * height / width, self.crop_size)), self.load_size)
        if mode == "none":
            target = (_round_to_multiple(height), _round_to_multiple(width))
            return None if target == (height, width) else target
        return None


def resize_bicubic(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased resize of a ``C x H x W`` image in ``[0, 1]`` to ``size`` (H, W)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(
        image.unsqueeze(0), size=size, mode="bicubic", align_corners=False, antialias=True
    )
    return out.squeeze(0).clamp_(0.0, 1.0)


def _round_to_multiple(n: int, base: int = SIZE_MULTIPLE) -> int:
    return max(base, int(round(n / base) * base))
