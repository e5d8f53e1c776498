"""The Exermote raw recording format: column names, feature order, classes and nominal rate.

The 12 phone (Core Motion device motion) features in the order the original models used
them, the four classes of the original 4-class model, and the names of the label, sub-label,
timestamp and subject columns of the 70-column raw CSV files.
"""

from __future__ import annotations


EXERMOTE_FEATURES = (
    "xGravity", "yGravity", "zGravity",
    "xAcceleration", "yAcceleration", "zAcceleration",
    "pitch", "roll", "yaw",
    "xRotationRate", "yRotationRate", "zRotationRate",
)
"""Feature names in model order: gravity (g), user acceleration (g), attitude (rad),
rotation rate (rad/s)."""

EXERMOTE_FEATURE_COLUMNS = tuple(f"Device: {name}" for name in EXERMOTE_FEATURES)
"""The CSV columns (55-66, 1-based) holding :data:`EXERMOTE_FEATURES`."""

EXERMOTE_CLASSES = ("Break", "Burpee", "Situp", "Squat")
BREAK_LABEL = "Break"
SQUAT_LABEL = "Squat"

EXERMOTE_RAW_LABELS = ("setBreak", "Break", "Burpee", "Situp", "Squat")
"""Values of ``exerciseType`` in the raw files."""

FIRST_HALF = "firstHalf"
SECOND_HALF = "secondHalf"
EXERMOTE_SUB_LABELS = (FIRST_HALF, SECOND_HALF, "Break", "setBreak")
"""Values of ``exerciseSubType``: the halves of a repetition, or a (set) break."""

DEFAULT_LABEL_MAP = {"setBreak": "Break"}
"""The original preprocessing merged the 25 s breaks between sets into ``Break``."""

LABEL_COLUMN = "exerciseType"
SUB_LABEL_COLUMN = "exerciseSubType"
TIMESTAMP_COLUMN = "timeStampSaved"
SUBJECT_COLUMN = "individual"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S:%f"
"""``timeStampSaved`` looks like ``2017-03-30 18:45:36:794``: milliseconds after a colon."""

NOMINAL_RATE_HZ = 10.0

NEARABLES = ("Right Hand", "Left Foot", "Chest", "Left Hand", "Belly", "Right Foot")
NEARABLE_FIELDS = ("nearableID", "frequency", "rssi", "xAcceleration", "yAcceleration",
                   "zAcceleration", "currentStateDuration", "previousStateDuration",
                   "timeStampRecorded")

EXERMOTE_COLUMNS = (
    tuple(f"{n}: {f}" for n in NEARABLES for f in NEARABLE_FIELDS)
    + EXERMOTE_FEATURE_COLUMNS
    + (LABEL_COLUMN, SUB_LABEL_COLUMN, TIMESTAMP_COLUMN, SUBJECT_COLUMN)
)
"""All 70 columns of a raw Exermote CSV, in file order."""
