"""Building blocks of BokehFlow (nn.Modules with one job each)."""
