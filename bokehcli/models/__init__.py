"""The BokehFlow network: configuration, assembly, weights I/O and tiled (TSP) inference."""
