"""img2img: image-to-image translation with GANs (pix2pix, pix2pixHD, CycleGAN)."""

__version__ = "0.1.0"
