"""Dataset preparation: edge maps from photos, side-by-side AB images, folder conversion.

Submodules are imported where used (``img2img.prep.edges``, ``img2img.prep.combine``), so importing
this package stays cheap.
"""
