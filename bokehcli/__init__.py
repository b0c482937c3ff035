"""bokeh: physically based shallow depth of field for ordinary photos (BokehFlow)."""

__version__ = "0.1.0"
