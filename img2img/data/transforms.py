"""Aligned augmentation: one resize, crop and flip shared by every stream of a sample.

Image streams resize bicubic with antialiasing; label and instance maps resize nearest, so their
ids survive exactly. Every random number comes from the ``torch.Generator`` passed in, so a sample
is a pure function of its seed, whatever process or worker computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from img2img.config import check_preprocess_sizes
from img2img.data.streams import STREAM_KINDS, StreamKind, is_id_kind

SIZE_MULTIPLE = 4  # preprocess "none" rounds sizes to a multiple of this, like the reference code


@dataclass(frozen=True)
class PairedParams:
    """The random choices for one sample, shared by all its streams.

    Attributes:
        resize: ``(height, width)`` to resize to first, or None.
        crop: ``(top, left, height, width)`` to cut after resizing, or None.
        flip: mirror left-right at the end.
    """

    resize: tuple[int, int] | None
    crop: tuple[int, int, int, int] | None
    flip: bool


@dataclass(frozen=True)
class StreamTransform:
    """Resize / crop / flip the named streams of one sample identically.

    Modes (as in the pix2pix reference): ``resize_and_crop`` (resize to ``load_size`` square,
    random ``crop_size`` crop), ``crop`` (random crop of the original), ``scale_width`` (width to
    ``load_size`` keeping the aspect ratio, height at least ``crop_size``),
    ``scale_width_and_crop`` (that, then a random crop), ``none`` (resize so both sides are
    multiples of 4). Image streams resize bicubic with antialiasing, clamped back to ``[0, 1]``;
    id streams (``label``, ``instance``) resize nearest and keep their ids.

    pix2pixHD's variant sets ``height_floor=False`` (its ``scale_width`` keeps the aspect ratio
    whatever ``crop_size`` is) and ``size_multiple`` to what its generator needs: modes without
    a crop then round the resized sides to that multiple (``none`` uses it instead of 4).

    Attributes:
        preprocess: one of :data:`img2img.config.PREPROCESS_MODES`.
        load_size: resize target (square side, or width for the ``scale_width`` modes).
        crop_size: side of the square random crop.
        flip: random horizontal flip with probability 0.5.
        height_floor: ``scale_width`` keeps the height at least ``crop_size`` (pix2pix).
        size_multiple: round uncropped sizes to this multiple; None: only mode ``none``
            rounds, to 4.
    """

    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    height_floor: bool = True
    size_multiple: int | None = None

    def __post_init__(self) -> None:
        check_preprocess_sizes(self.preprocess, self.load_size, self.crop_size)
        if self.size_multiple is not None and self.size_multiple < 1:
            raise ValueError(
                f"size_multiple: {self.size_multiple!r} is not valid; expected None or >= 1"
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

    def apply(
        self, tensor: torch.Tensor, params: PairedParams, kind: StreamKind = "image"
    ) -> torch.Tensor:
        """Apply drawn parameters to one ``C x H x W`` stream of the given kind."""
        if params.resize is not None:
            tensor = resize_stream(tensor, params.resize, kind)
        if params.crop is not None:
            top, left, h, w = params.crop
            tensor = tensor[..., top : top + h, left : left + w]
        if params.flip:
            tensor = tensor.flip(-1)
        return tensor.contiguous()

    def __call__(
        self,
        streams: Mapping[str, torch.Tensor],
        kinds: Mapping[str, StreamKind],
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """Transform every stream alike; the first stream's size is the reference.

        Args:
            streams: ``{name: C x H x W}``; images float in ``[0, 1]``, id maps integer with one
                channel. A stream of another size than the first is resized to it first
                (nearest for ids), so all stay aligned.
            kinds: the kind of each stream.
            generator: the only source of randomness (three numbers are drawn).

        Returns:
            ``{name: transformed tensor}`` in the order of ``streams``.
        """
        if not streams:
            raise ValueError("streams: expected at least one stream to transform")
        for name, tensor in streams.items():
            _check_stream(name, tensor, kinds.get(name))
        height, width = next(iter(streams.values())).shape[-2:]
        params = self.get_params(height, width, generator)
        return {
            name: self.apply(resize_stream(t, (height, width), kinds[name]), params, kinds[name])
            for name, t in streams.items()
        }

    def _resize_target(self, height: int, width: int) -> tuple[int, int] | None:
        mode = self.preprocess
        if mode == "resize_and_crop":
            return (self.load_size, self.load_size)
        target = (height, width)
        if mode.startswith("scale_width") and width != self.load_size:
            scaled = self.load_size * height / width
            target = (int(max(scaled, self.crop_size) if self.height_floor else scaled),
                      self.load_size)
        elif mode.startswith("scale_width") and self.height_floor and height < self.crop_size:
            target = (self.crop_size, width)
        multiple = self.size_multiple or (SIZE_MULTIPLE if mode == "none" else None)
        if multiple is not None and "crop" not in mode:
            target = (_round_to_multiple(target[0], multiple),
                      _round_to_multiple(target[1], multiple))
        return None if target == (height, width) else target


@dataclass(frozen=True)
class PairedTransform(StreamTransform):
    """The two-image case: A and B (``C x H x W`` floats in ``[0, 1]``) transformed alike.

    ``transform(a, b, generator)`` returns ``(a', b')``; a B of another size than A is first
    resized to A's size.
    """

    def __call__(  # type: ignore[override]
        self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = super().__call__({"A": a, "B": b}, _IMAGE_PAIR, generator)
        return out["A"], out["B"]


_IMAGE_PAIR: dict[str, StreamKind] = {"A": "image", "B": "image"}


def resize_stream(tensor: torch.Tensor, size: tuple[int, int], kind: StreamKind) -> torch.Tensor:
    """Resize a ``C x H x W`` stream to ``size`` (H, W): nearest for id kinds, else bicubic."""
    return resize_nearest(tensor, size) if is_id_kind(kind) else resize_bicubic(tensor, size)


def resize_bicubic(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased resize of a ``C x H x W`` image in ``[0, 1]`` to ``size`` (H, W)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(
        image.unsqueeze(0), size=size, mode="bicubic", align_corners=False, antialias=True
    )
    return out.squeeze(0).clamp_(0.0, 1.0)


def resize_nearest(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of ``... x H x W`` to ``size`` (H, W), for any dtype.

    Each output pixel copies the input pixel under its centre (the rule of PIL's ``NEAREST``),
    so the output holds only values of the input: ids are never blended.
    """
    height, width = tensor.shape[-2:]
    if (height, width) == tuple(size):
        return tensor
    rows = _nearest_indices(height, size[0])
    cols = _nearest_indices(width, size[1])
    return tensor.index_select(-2, rows).index_select(-1, cols)


def _nearest_indices(n_in: int, n_out: int) -> torch.Tensor:
    centres = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out)
    return centres.floor_().long().clamp_(0, n_in - 1)


def _check_stream(name: str, tensor: torch.Tensor, kind: str | None) -> None:
    if kind not in STREAM_KINDS:
        expected = ", ".join(STREAM_KINDS)
        raise ValueError(f"stream {name!r}: kind {kind!r} is not valid; expected one of {expected}")
    if tensor.ndim != 3:
        raise ValueError(
            f"stream {name!r}: got shape {tuple(tensor.shape)}; expected a C x H x W tensor"
        )
    if is_id_kind(kind) and (tensor.is_floating_point() or tensor.shape[0] != 1):
        raise ValueError(
            f"stream {name!r} ({kind}): got {tensor.dtype} with {tensor.shape[0]} channels; "
            "expected integer ids with 1 channel"
        )
    if not is_id_kind(kind) and not tensor.is_floating_point():
        raise ValueError(
            f"stream {name!r} (image): got {tensor.dtype}; expected float pixels in [0, 1]"
        )


def _round_to_multiple(n: int, base: int = SIZE_MULTIPLE) -> int:
    return max(base, int(round(n / base) * base))
