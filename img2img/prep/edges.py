"""Edge maps from photographs, drawn black on white like the edges2shoes/edges2handbags sets."""

from __future__ import annotations

import cv2
import numpy as np


def edges_from_photo(
    image: np.ndarray,
    low: float = 2.0,
    high: float = 5.0,
    blur: float = 1.0,
    min_threshold: float = 20.0,
) -> np.ndarray:
    """Canny edges of a photo, black (0) lines on white (255).

    The photo is turned to gray (BT.601) and blurred lightly with a Gaussian of ``blur`` pixels.
    Canny's hysteresis thresholds are ``low`` and ``high`` times the median Sobel gradient
    magnitude of that image, so the edge density adapts to the photo's contrast and texture
    (bright and dark photos alike); ``min_threshold`` (and twice it for the high threshold) keeps
    flat images from turning noise into edges.

    Args:
        image: ``H x W x 3`` RGB (or ``H x W x 4`` RGBA, or ``H x W`` gray) uint8 array.
        low: low threshold as a multiple of the median gradient magnitude.
        high: high threshold as a multiple of the median gradient magnitude.
        blur: Gaussian standard deviation in pixels; 0 disables blurring.
        min_threshold: smallest low threshold, in Sobel gradient units.

    Returns:
        ``H x W`` uint8 array with values 0 (edge) and 255 (background).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"edges_from_photo: expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2:
        gray = np.ascontiguousarray(image)
    else:
        raise ValueError(
            f"edges_from_photo: expected H x W x 3 (RGB), H x W x 4 or H x W, got {image.shape}"
        )
    if not 0.0 < low < high:
        raise ValueError(f"low {low!r} / high {high!r}: expected 0 < low < high")
    if blur > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), sigmaX=blur, sigmaY=blur)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    median = float(np.median(cv2.magnitude(gx, gy)))
    low_t = max(min_threshold, low * median)
    high_t = max(2.0 * min_threshold, high * median)
    edges = cv2.Canny(gray, low_t, high_t, L2gradient=True)
    return np.subtract(255, edges, dtype=np.uint8)
