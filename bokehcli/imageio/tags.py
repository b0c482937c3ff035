"""EXIF and TIFF tag numbers: the one table every reader and writer of ours uses (the lens
metadata reader, the output writer, the synthetic-data and bench photo writers, the tests)."""

MAKE, MODEL, ORIENTATION, DESCRIPTION, SOFTWARE = 0x010F, 0x0110, 0x0112, 0x010E, 0x0131
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
FNUMBER, APERTURE_VALUE, FOCAL_LENGTH, FOCAL_35MM = 0x829D, 0x9202, 0x920A, 0xA405
SUBJECT_DISTANCE, SUBJECT_AREA, SUBJECT_LOCATION, MAKER_NOTE = 0x9206, 0x9214, 0xA214, 0x927C
PIXEL_X, PIXEL_Y = 0xA002, 0xA003
DATE_TIME_ORIGINAL, EXIF_VERSION = 0x9003, 0x9000
LENS_SPECIFICATION, LENS_MAKE, LENS_MODEL = 0xA432, 0xA433, 0xA434
FOCAL_PLANE_X_RES, FOCAL_PLANE_Y_RES, FOCAL_PLANE_UNIT = 0xA20E, 0xA20F, 0xA210
XMP_TIFF_TAG = 700      # a TIFF file's XMP packet (XMP Specification Part 3)
# SubjectDistance numerator meaning infinity (EXIF 2.3: 0xFFFFFFFF / x); a numerator of 0 means unknown.
SUBJECT_DISTANCE_INFINITY = 0xFFFFFFFF
# IFD0 tags of a TIFF source that are EXIF metadata rather than the TIFF's own image structure.
TIFF_METADATA_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)
