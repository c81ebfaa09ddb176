"""Input checks shared by the networks, so bad shapes fail with a message that helps."""

from __future__ import annotations

import torch

from img2img.nn.capture import graph_capture


def nearest_multiple(size: int, multiple: int) -> int:
    """The positive multiple of ``multiple`` closest to ``size`` (ties round up)."""
    return max(multiple, (size + multiple // 2) // multiple * multiple)


def next_multiple(size: int, multiple: int) -> int:
    """The smallest positive multiple of ``multiple`` that is at least ``size``."""
    return max(multiple, -(-size // multiple) * multiple)


def size_error(
    name: str, multiple: int, height: int, width: int, min_size: int = 1
) -> str | None:
    """Explain why ``height`` x ``width`` does not suit network ``name``; None when it does.

    Example: ``unet_256 needs height and width that are multiples of 256; got 300x300;
    nearest valid size 256x256 (or pad/resize to 512x512)``.

    Args:
        name: the network's name for the message.
        multiple: height and width must be multiples of this.
        height: input height.
        width: input width.
        min_size: height and width must also be at least this.
    """
    if height < min_size or width < min_size:
        h = next_multiple(max(height, min_size), multiple)
        w = next_multiple(max(width, min_size), multiple)
        return (
            f"{name} needs height and width of at least {min_size}; got {height}x{width}; "
            f"pad/resize to {h}x{w}"
        )
    if height % multiple == 0 and width % multiple == 0:
        return None
    nearest = (nearest_multiple(height, multiple), nearest_multiple(width, multiple))
    padded = (next_multiple(height, multiple), next_multiple(width, multiple))
    message = (
        f"{name} needs height and width that are multiples of {multiple}; "
        f"got {height}x{width}; nearest valid size {nearest[0]}x{nearest[1]}"
    )
    if padded != nearest:
        message += f" (or pad/resize to {padded[0]}x{padded[1]})"
    return message


def check_input(
    x: torch.Tensor, name: str, in_channels: int, multiple: int = 1, min_size: int = 1
) -> None:
    """Check that ``x`` is an (N, C, H, W) batch with ``in_channels`` channels.

    Args:
        x: the network input.
        name: the network's name for the message (``unet_256``, ``basic PatchGAN`` ...).
        in_channels: channels the network was built for.
        multiple: height and width must be multiples of this.
        min_size: height and width must be at least this.

    Raises:
        ValueError: wrong rank, channel count or spatial size.

    While a graph is captured (export, tracing) height and width may be symbolic; they are not
    checked then, so that the captured graph keeps them dynamic.
    """
    if x.dim() != 4:
        raise ValueError(
            f"{name} expects a batch shaped (N, C, H, W); got a tensor of shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{name} was built for {in_channels} input channels; got {x.shape[1]} "
            f"(input shape {tuple(x.shape)})"
        )
    if graph_capture():
        return
    message = size_error(name, multiple, int(x.shape[2]), int(x.shape[3]), min_size)
    if message is not None:
        raise ValueError(message)
