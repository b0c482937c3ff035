"""``python -m bokehcli.quality``: the real-photo and Motorcycle checks, printed as tables.

Exit status: 0 done, 1 an input is missing or unreadable (the camera corpus, a photo), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ..errors import BokehError
from ..files import atomic_write_bytes
from .motorcycle import run_motorcycle
from .protocol import VARIANTS
from .real_photo import CHECK_LABELS_PATH, LABELS_PATH, load_labels, summarize
from .report import motorcycle_table, photos_table, variant_table
from .run import run_real_photos
from .sheets import write_sheets

# The camera corpus sits beside the repository: <repo>/../shared/exif-corpus.
DEFAULT_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "exif-corpus"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bokehcli.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--labels", type=Path, default=LABELS_PATH, metavar="JSON",
                        help=f"label file (default {LABELS_PATH.name}; {CHECK_LABELS_PATH.name} is a second set, "
                        "outlined after the cues were tuned on the first)")
    parser.add_argument("--only", nargs="+", metavar="FILE",
                        help="label names to run, as in the label file (e.g. 'Canon/Canon EOS 7D.jpg' skimage:coffee)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every number as JSON")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"camera corpus folder (default {DEFAULT_CORPUS})")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the renders in DIR instead of a temporary folder")
    parser.add_argument("--no-motorcycle", action="store_true", help="skip the Motorcycle check")
    parser.add_argument("--model", metavar="WEIGHTS", help="weights of the 'model' variant (name in models/ or a "
                        "path; default: bokeh render's)")
    parser.add_argument("--draw-labels", type=Path, metavar="DIR",
                        help="only draw the labels on their photos as contact sheets in DIR (no renders)")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or not args.variants:
        parser.error(f"--variants: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        labels = load_labels(args.labels)
    except (OSError, ValueError) as exc:
        print(f"python -m bokehcli.quality: --labels: {exc}", file=sys.stderr)
        return 2
    if args.only:
        known = {label.file for label in labels}
        missing = [name for name in args.only if name not in known]
        if missing:
            print(f"python -m bokehcli.quality: --only: no label for {', '.join(repr(m) for m in missing)} "
                  f"(the names are listed in {args.labels})", file=sys.stderr)
            return 2
        labels = [label for label in labels if label.file in args.only]
    if any(not label.from_skimage for label in labels) and not args.corpus.is_dir():
        print(f"python -m bokehcli.quality: camera corpus not found at {args.corpus} (expected "
              f"../shared/exif-corpus beside the repository); pass --corpus DIR, or --only skimage:... labels",
              file=sys.stderr)
        return 1
    if args.draw_labels is not None:
        return _draw_labels(labels, args.corpus, args.draw_labels)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bokeh-quality-") as scratch:
            work_dir = args.keep if args.keep is not None else Path(scratch)
            # The Motorcycle first: a minute, where the photos take long.
            motorcycle = None if args.no_motorcycle else run_motorcycle(work_dir / "motorcycle", args.variants,
                                                                         progress=_progress, model=args.model)
            scores = run_real_photos(labels, args.variants, args.corpus, work_dir, progress=_progress,
                                     model=args.model)
        seconds = time.perf_counter() - start
        _print_tables(args.variants, scores, motorcycle, seconds)
        if args.json is not None:
            report = {"labels": str(args.labels), "model": args.model, "seconds": round(seconds, 1), "motorcycle": motorcycle,
                      "variants": {v: {"summary": summarize(scores[v]).to_json(),
                                       "photos": [s.to_json() for s in scores[v]]} for v in args.variants}}
            atomic_write_bytes(args.json, (json.dumps(report, indent=1) + "\n").encode())
    except (BokehError, OSError) as exc:
        print(f"python -m bokehcli.quality: {exc}", file=sys.stderr)
        return 1
    return 0


def _draw_labels(labels: list, corpus: Path, out_dir: Path) -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="bokeh-quality-") as scratch:
            for path in write_sheets(labels, corpus, out_dir, Path(scratch)):
                print(path)
    except (BokehError, OSError) as exc:
        print(f"python -m bokehcli.quality: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_tables(variants: list[str], scores: dict, motorcycle: dict | None, seconds: float) -> None:
    print(photos_table(scores[variants[0]]))
    for variant in variants:
        print()
        print(variant_table(variant, scores[variant]))
    if motorcycle is not None:
        print()
        print(motorcycle_table(motorcycle))
    photos = len(scores[variants[0]])
    print(f"\n{photos} photos x {len(variants)} variants{'' if motorcycle is None else ' + Motorcycle'} "
          f"in {seconds:.0f} s")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
