"""The depth preview `--save-depth` writes beside the maps: where its focus-plane line is drawn."""

import numpy as np

from bokehcli.depth_preview import depth_preview

WHITE = (255, 255, 255)


def white(rgb: np.ndarray) -> np.ndarray:
    return np.all(rgb == WHITE, axis=-1)


def test_a_subject_on_the_focus_plane_is_outlined_not_speckled():
    """A cue depth map puts its subject exactly on the focus plane; stored as float32 metres its
    depth rounds to either side of the focus distance pixel by pixel. Before: the "line" where
    inverse depth crosses the focus filled the subject with white speckle (corpus renders)."""
    focus_m = 2.71
    rng = np.random.default_rng(0)
    depth_m = np.full((120, 160), 4 * focus_m, np.float32)              # background, behind
    subject = np.zeros((120, 160), bool)
    subject[30:90, 50:110] = True
    noise = rng.choice([-1, 0, 1], size=subject.sum()) * np.spacing(np.float32(focus_m))
    depth_m[subject] = np.float32(focus_m) + noise.astype(np.float32)
    assert (1.0 / depth_m[subject] < 1.0 / focus_m).any() and (1.0 / depth_m[subject] > 1.0 / focus_m).any()

    line = white(depth_preview(depth_m, focus_m, focus_xy=None))
    assert not line[40:80, 60:100].any()                                 # the subject's inside
    assert line[30:90, 50].all() and line[30, 50:110].all()               # its outline
    assert not line[:20].any() and not line[100:].any()                  # the background


def test_the_line_follows_a_smooth_crossing_of_the_focus_distance():
    """A network's depth: a floor receding from 1 m (bottom) to 4 m (top), focused at 2 m."""
    rows = np.linspace(4.0, 1.0, 200, dtype=np.float32)
    depth_m = np.repeat(rows[:, None], 50, axis=1)
    line_rows = np.nonzero(white(depth_preview(depth_m, 2.0, focus_xy=None)).any(axis=1))[0]
    crossing = int(np.argmin(np.abs(rows - 2.0)))
    assert line_rows.size and abs(np.median(line_rows) - crossing) <= 2
    assert line_rows.max() - line_rows.min() <= 4                        # one thin line
