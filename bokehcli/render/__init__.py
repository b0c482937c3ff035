"""Depth-of-field renderers.

``accumulation``: the exact thin-lens reference (an average of pinhole views over the aperture),
slow and independent of the production renderer, used to make training data and as the test
oracle. ``layered``: the production renderer used by ``bokeh render``.
"""
