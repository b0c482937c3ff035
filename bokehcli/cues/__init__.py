"""Depth cues that a real photo itself carries, one module per cue, each with a documented output.

Every cue runs on the photo resized to a small working size (:mod:`.image`, long side
``CUE_LONG_SIDE_PX``): segmentation and edge statistics need no more, and it keeps the cues to a
fraction of a second on a 24 MP photo. Coordinates are cue pixels unless a name says otherwise.

    image.py     the photo at cue size, and box conversions to and from photo pixels
    faces.py     face boxes (Viola-Jones cascades that ship inside OpenCV's wheel)
    saliency.py  the most salient region (spectral residual, weighted towards the centre)
    focus.py     where the render focuses: --focus-at > camera AF point / subject area > faces >
                 salient region > centre
    defocus.py   blur already in the photo: edge re-blur gradient ratio (Zhuo & Sim 2011) spread
                 edge-aware (domain transform)
    subject.py   subject matte: GrabCut seeded by the focus target, faces and the defocus map,
                 with a soft, edge-following border
    layout.py    scene layout: sky at infinity, a ground plane rising towards the horizon
    depth.py     the cues combined into relative inverse depth (1 on the focus plane)
    photo.py     all of the above for one photo and its metadata (render and data sets alike)
    maps.py      the cues as image channels for a BokehFlow model that takes them
"""
