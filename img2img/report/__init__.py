"""A run's report: one self-contained ``report.html`` in the run directory.

It shows the configuration, the loss, learning-rate and throughput curves (inline SVG), the
sample grids over time (a step picker), the evaluation results with their protocol, and a
gallery input | output | target of evaluated images. Images are referenced by paths relative
to the run directory (the gallery's strips are written to ``report_files/``); nothing is
fetched from the network.
"""

from img2img.report.page import GALLERY_DIR, REPORT_FILE, write_report

__all__ = ["GALLERY_DIR", "REPORT_FILE", "write_report"]
