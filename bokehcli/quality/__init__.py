"""Quality checks of the whole render on real photos (``python -m bokehcli.quality``).

Two measurements, both through :func:`bokehcli.pipeline.render_file` exactly as a user would
render, at a full-frame-equivalent f/1.8:

- ``real_photo``: hand-labelled real photos (camera-corpus JPEGs and a few scikit-image photos
  without EXIF). Per photo, does the subject keep its sharpness and does what lies behind it
  melt? Measured as the share of luma gradient energy a render leaves in labelled polygons.
- ``motorcycle``: Middlebury 2014 "Motorcycle" (shipped with scikit-image with its measured
  disparity) written as a JPEG with lens EXIF; how close the render without a depth map comes to
  the render with the measured depth, and how good the depth it used is.

Modules: ``real_photo`` (labels, metrics, scoring), ``protocol`` (how a photo is rendered for
each variant), ``run`` (render and score every labelled photo), ``motorcycle`` (the Motorcycle
check), ``report`` (tables), ``sheets`` (the labels drawn on their photos), ``__main__`` (the
command line).

Usage (from the repository root; the camera corpus is looked for at ../shared/exif-corpus)::

    python -m bokehcli.quality                       # all 24 photos x 3 variants + Motorcycle
    python -m bokehcli.quality --variants default --only "Canon/Canon EOS 7D.jpg" --json out.json
    python -m bokehcli.quality --draw-labels labels/  # contact sheets of the labels
"""
