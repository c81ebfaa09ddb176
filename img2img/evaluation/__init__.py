"""How good a model is: paired metrics (L1, PSNR, SSIM, LPIPS) and FID/KID, with their protocol.

* :mod:`~img2img.evaluation.weights`: pretrained weights from disk, never downloaded.
* :mod:`~img2img.evaluation.paired`: per-image L1, PSNR, SSIM and LPIPS.
* :mod:`~img2img.evaluation.distribution`: Inception features, FID and KID (torchmetrics).
* :mod:`~img2img.evaluation.score`: which metrics can run; scoring pairs and sets.
* :mod:`~img2img.evaluation.run`: evaluate a model on a split, or two folders.
"""
