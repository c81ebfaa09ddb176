"""Names of the adversarial objectives; importing this module does not import torch."""

from __future__ import annotations

#: vanilla (BCE on logits, pix2pix), lsgan (least squares: CycleGAN, pix2pixHD), hinge, wgangp
GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")


def check_gan_mode(mode: str, field_name: str = "gan_mode") -> str:
    """Return ``mode`` if it is one of :data:`GAN_MODES`; else fail listing them."""
    if mode not in GAN_MODES:
        raise ValueError(
            f"{field_name}: {mode!r} is not valid; expected one of: {', '.join(GAN_MODES)}"
        )
    return mode
