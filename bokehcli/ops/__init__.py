"""Pure tensor functions (no nn.Modules): colour, apertures, blur, gated delta rule."""
