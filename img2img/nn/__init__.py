"""Networks and their registry. Importing this package does not import torch."""

from img2img.nn.choices import INIT_TYPES, NORMS
from img2img.nn.registry import (
    NetworkEntry,
    UnknownNetworkError,
    create_discriminator,
    create_encoder,
    create_generator,
    get_entry,
    list_discriminators,
    list_encoders,
    list_generators,
    register,
)

__all__ = [
    "INIT_TYPES",
    "NORMS",
    "NetworkEntry",
    "UnknownNetworkError",
    "create_discriminator",
    "create_encoder",
    "create_generator",
    "get_entry",
    "list_discriminators",
    "list_encoders",
    "list_generators",
    "register",
]
