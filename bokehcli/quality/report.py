"""Plain-text tables of the quality checks."""

from __future__ import annotations

from .real_photo import KEPT_MIN_RATIO, MELTED_MAX_RATIO, PhotoScore, summarize

FILE_WIDTH = 38


def photos_table(scores: list[PhotoScore]) -> str:
    """What each photo is rendered at (the same in every variant)."""
    lines = [f"{'file':{FILE_WIDTH}s} {'35 mm':>7s}  source of the focal length"]
    lines += [f"{s.file:{FILE_WIDTH}s} {s.info['focal_35mm']:7.1f}  {s.info['focal_source']}" for s in scores]
    return "\n".join(lines)


def variant_table(variant: str, scores: list[PhotoScore]) -> str:
    """Per photo: E(out)/E(in) over the subject and each background, the verdicts; then the counts."""
    head = (f"== variant {variant}: kept = subject ratio >= {KEPT_MIN_RATIO:.2f}, "
            f"melted = background ratio <= {MELTED_MAX_RATIO:.2f} ==")
    lines = [head, f"{'file':{FILE_WIDTH}s} {'subject':>7s}  {'backgrounds':17s} {'kept':4s}  melted  focus"]
    for s in scores:
        backgrounds = " ".join(f"{r:.2f}" for r in s.background_ratios) or "-"
        melted = f"{sum(s.melted)}/{len(s.melted)}"
        focus = "inf" if s.info.get("focus_m") is None else f"{s.info['focus_m']:.3g} m"
        foregrounds = "".join(f" foreground {r:.2f}" for r in s.foreground_ratios)
        lines.append(f"{s.file:{FILE_WIDTH}s} {s.subject_ratio:7.2f}  {backgrounds:17s} "
                     f"{'yes' if s.kept else 'no':4s}  {melted:6s}  {focus} ({s.info.get('focus_source')})"
                     + foregrounds)
    lines.append(summarize(scores).line())
    return "\n".join(lines)


def motorcycle_table(result: dict) -> str:
    width, height = result["size"]
    lines = [f"== Motorcycle ({width}x{height}, {result['focal_35mm']:g} mm f/1.8, SubjectDistance "
             f"{result['focus_m']:.3f} m at the fuel tank) ==",
             f"{'variant':10s} {'error removed':>13s} {'delta1':>7s} {'AbsRel':>7s}"]
    for name, s in result["variants"].items():
        lines.append(f"{name:10s} {s['error_removed']:12.0%} {s['delta1']:7.3f} {s['abs_rel']:7.3f}")
    return "\n".join(lines)
