"""img2img: image-to-image translation with GANs (pix2pix, pix2pixHD, CycleGAN)."""

__version__ = "0.1.0"

# the built-in families and their networks are registered on first import (no torch)
from img2img import families as _families  # noqa: E402, F401
