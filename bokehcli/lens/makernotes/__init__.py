"""Per-maker decoders of the EXIF MakerNote; ``read_maker_note`` and ``read_maker_af`` pick one
and never raise.

A maker module's ``read`` gives the focus distance and sensor size, its ``read_af`` where the
camera focused, its ``read_lens`` the lens it names. Fujifilm, Panasonic and Pentax notes record no focus distance, only the AF
position; Samsung, Kodak, Ricoh and Sigma notes record neither, so they have no decoder.
"""

from __future__ import annotations

from . import apple, canon, casio, fujifilm, leica, minolta, nikon, olympus, panasonic, pentax, sanyo, sony
from .base import AfReading, LensName, Note, Reading

__all__ = ["AfReading", "LensName", "Note", "Reading", "read_maker_af", "read_maker_lens", "read_maker_note"]


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
    if head.startswith((b"FUJIFILM", b"GENERALE")):
        return fujifilm
    if head.startswith(b"Panasonic\0"):
        return panasonic
    if head.startswith((b"AOC\0", b"PENTAX \0")):
        return pentax
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
    return _guarded(note, "read", Reading)


def read_maker_af(note: Note) -> AfReading | None:
    """Where the note says the camera focused, or None when its maker records no AF position;
    guarded like ``read_maker_note``."""
    return _guarded(note, "read_af", AfReading)


def read_maker_lens(note: Note) -> LensName | None:
    """The lens the note names (Canon, Olympus, Panasonic: a model name; Nikon: focal and
    f-number range), or None; guarded like ``read_maker_note``. Makers that store only a lens
    number (Pentax, Sony, Sigma) need the maker's own table of lenses, which bokeh does not hold."""
    return _guarded(note, "read_lens", LensName)


def _guarded(note: Note, function: str, result_type):
    decoder = _decoder(note)
    read = getattr(decoder, function, None)
    if read is None:
        return None
    try:
        return read(note)
    except Exception as exc:  # noqa: BLE001 - last line of defence for hostile input
        return result_type(warnings=[f"{decoder.__name__.rsplit('.', 1)[-1]} maker note unreadable "
                                     f"({type(exc).__name__})"])
