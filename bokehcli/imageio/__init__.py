"""Photo input and output.

``load_photo`` turns any supported file into upright float32 sRGB-encoded values in [0, 1]
(alpha kept apart), whatever its format (JPEG, PNG, TIFF, HEIC when ``pillow_heif`` is
installed), pixel mode or EXIF orientation. Linearisation is the renderer's job
(``bokehcli.ops.color.srgb_to_linear``). Every failure is an :class:`InputError` whose one
line names the file.

``save_photo`` writes the rendered image as JPEG, 8-bit PNG or 16-bit RGB TIFF, atomically,
carrying the source's EXIF (Orientation reset to 1, FNumber set to the rendered value, the
rendering recorded in ImageDescription and Software; the maker note, whose offsets a rewrite
breaks, left out, with the lens, AF point, focus distance and 35 mm focal length that were
read recorded in standard tags: ``catalogue``), its XMP (extended XMP included, re-serialised
and stamped with the rendering: ``xmp``) and ICC profile. Alpha is not written:
blurring moves colour across the frame, so the source's alpha no longer matches the pixels.

Pillow reads 16-bit-per-channel colour PNGs and TIFFs at 8 bits, so those two are decoded by
our own code (PNG: inflate + unfilter; TIFF: uncompressed or deflate strips), and Pillow cannot
write 16-bit RGB TIFF, so that writer is ours too.

Modules: ``read`` (decoding, orientation, colour profiles, the one-line errors), ``decode16``
(the 16-bit PNG and TIFF decoders), ``write`` (encoding, EXIF stamping, the 16-bit TIFF
writer), ``catalogue`` (lens facts restated in standard tags), ``xmp`` (XMP read, stamped,
re-serialised), ``tags`` (the EXIF/TIFF tag numbers the two sides share).
"""

from .decode16 import png_unfilter
from .read import (DECODE_ERRORS, DEFAULT_MAX_PIXELS, PHOTO_FORMATS, Photo, apply_orientation, check_pixels,
                   load_photo, open_image, read_size, reading_input, register_heif)
from .catalogue import LensRecord, lens_record
from .write import JPEG_QUALITY, OUTPUT_SUFFIX, exif_rational, save_photo

__all__ = ["DECODE_ERRORS", "DEFAULT_MAX_PIXELS", "JPEG_QUALITY", "LensRecord", "OUTPUT_SUFFIX", "PHOTO_FORMATS",
           "Photo", "apply_orientation", "check_pixels", "exif_rational", "lens_record", "load_photo", "open_image", "png_unfilter",
           "read_size", "reading_input", "register_heif", "save_photo"]
