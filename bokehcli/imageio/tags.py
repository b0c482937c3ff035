"""EXIF and TIFF tag numbers the photo reader and writer share."""

EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
ORIENTATION, DESCRIPTION, SOFTWARE = 0x0112, 0x010E, 0x0131
FNUMBER, APERTURE_VALUE, PIXEL_X, PIXEL_Y = 0x829D, 0x9202, 0xA002, 0xA003
# IFD0 tags of a TIFF source that are EXIF metadata rather than the TIFF's own image structure.
TIFF_METADATA_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)
