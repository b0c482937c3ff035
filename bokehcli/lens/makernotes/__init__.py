"""Per-maker decoders of the EXIF MakerNote; ``read_maker_note`` picks one and never raises.

Fujifilm, Panasonic, Samsung, Pentax, Kodak, Ricoh and Sigma notes record no focus distance,
so they have no decoder.
"""

from __future__ import annotations

from . import apple, canon, casio, leica, minolta, nikon, olympus, sanyo, sony
from .base import Note, Reading

__all__ = ["Note", "Reading", "read_maker_note"]


def _decoder(note: Note):
    head, make = note.data[:10], note.make.upper()
    if head.startswith(b"Nikon\0") or make.startswith("NIKON"):
        return nikon
    if head.startswith((b"OLYMP", b"OM SYSTEM")):
        return olympus
    if head.startswith(b"Apple iOS"):
        return apple
    if head.startswith(b"LEICA\0"):
        return leica
    if head.startswith(b"SANYO\0"):
        return sanyo
    if make.startswith("CANON"):
        return canon
    if make.startswith("CASIO"):
        return casio
    if make.startswith(("MINOLTA", "KONICA MINOLTA")):
        return minolta
    if make.startswith("SONY") and not make.startswith("SONY ERICSSON"):
        return sony
    return None


def read_maker_note(note: Note) -> Reading | None:
    """Focus/sensor reading of the note, or None when its maker records neither.

    A decoder bug on a hostile note must not take the whole file down, so anything a
    decoder raises becomes a warning (the decoders themselves only read bounds-checked data).
    """
    decoder = _decoder(note)
    if decoder is None:
        return None
    try:
        return decoder.read(note)
    except Exception as exc:  # noqa: BLE001 - last line of defence for hostile input
        return Reading(warnings=[f"{decoder.__name__.rsplit('.', 1)[-1]} maker note unreadable "
                                 f"({type(exc).__name__})"])
