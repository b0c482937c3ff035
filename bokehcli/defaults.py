"""Defaults of the settings a user can change, in a module that imports nothing.

The command line shows them in ``--help``; keeping them here lets ``bokeh --help`` answer
without loading torch (seconds). The modules that use them import them from here.
"""

# Decoding guard: images, photos and depth maps alike are refused above this many pixels,
# before their pixels are decoded (a decompression bomb is a few kB claiming gigapixels).
DEFAULT_MAX_PIXELS = 200_000_000
JPEG_QUALITY = 95
# BokehFlow weights used when --model names none (a name in models/).
DEFAULT_MODEL = "bokehflow-nano"
# Long side (px) the network runs at; depth is then upsampled to the photo, guided by it.
DEFAULT_WORK_SIZE_PX = 1024
# Calibrated against the exact reference: small lights 3-30 times the clip level (log-spaced, the
# range of the synthetic scenes' lights), photographed clipped, keep the energy of their bokeh
# balls on geometric average at 5 (0.90-1.00 of the reference's on 13 and 26 px balls; 3 gave
# 0.56-0.61). Brighter lights stay fainter than they were; large clipped surfaces, barely above
# the clip, come out slightly too bright (README, "Highlights").
DEFAULT_HIGHLIGHT_GAIN = 5.0
# Capture f-numbers a synthetic source may be rendered at (bokeh synth --source-f): no wider than
# the widest target aperture, f/2.0, for which each scene's margin is sized.
SOURCE_F_NUMBER_RANGE = (2.0, 64.0)
