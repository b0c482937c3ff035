"""Lens metadata of photos: focal length, f-number, sensor size and focus distance
(docs/lens-metadata.md).

``read_lens(path)`` reads standard EXIF, maker notes (Canon, Nikon incl. decryption,
Olympus, Sony, Apple, Casio, Minolta, Leica, Sanyo) and XMP with a bounded TIFF reader and
reports every value with its source. It never raises for malformed content, only
``InputError`` when the file cannot be read at all.
"""

from .resolve import SENSOR_DEFAULT_WARNING, read_lens
from .types import LensMetadata

__all__ = ["LensMetadata", "SENSOR_DEFAULT_WARNING", "read_lens"]
