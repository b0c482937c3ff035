"""Training and evaluation data: procedural scenes, the synthetic set writer and the RealBokeh reader."""
