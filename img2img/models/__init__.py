"""Model families: one recipe each (networks, optimizers, training step, inference model).

Families are declared in :mod:`img2img.families`; this package holds their implementations.
"""
