"""Truthful names and descriptions of an exported model's input, output and purpose.

A run trained on the Exermote recordings reads Core Motion device-motion values (gravity and
user acceleration in g, attitude in rad, rotation rate in rad/s) at 10 Hz; a run trained on
other recordings (say a smartwatch's 6 accelerometer and gyroscope columns at 50 Hz) does not,
and its exported model must not say so.  Everything Xcode shows about a model (the input name
that becomes the Swift argument label, the descriptions, the summary) is derived here from the
run's own features, sample rate and classes.
"""

from __future__ import annotations


#: Core Motion feature -> (CMDeviceMotion property, unit)
CORE_MOTION_SOURCES = {
    "xGravity": ("gravity.x", "g"), "yGravity": ("gravity.y", "g"),
    "zGravity": ("gravity.z", "g"),
    "xAcceleration": ("userAcceleration.x", "g"), "yAcceleration": ("userAcceleration.y", "g"),
    "zAcceleration": ("userAcceleration.z", "g"),
    "pitch": ("attitude.pitch", "rad"), "roll": ("attitude.roll", "rad"),
    "yaw": ("attitude.yaw", "rad"),
    "xRotationRate": ("rotationRate.x", "rad/s"), "yRotationRate": ("rotationRate.y", "rad/s"),
    "zRotationRate": ("rotationRate.z", "rad/s"),
}
CORE_MOTION_UNITS = {name: unit for name, (_, unit) in CORE_MOTION_SOURCES.items()}
#: the Exermote app's input name, kept for models that read Core Motion values
CORE_MOTION_INPUT = "accelerations"
#: the input name of any other model
SENSOR_INPUT = "sensorWindow"


def _suffix(feature: str) -> str:
    return feature.split(":")[-1].strip()


def core_motion_names(features) -> list[str] | None:
    """The Core Motion names of ``features`` (``"Device: xGravity"`` -> ``"xGravity"``), or
    ``None`` when any feature is not a Core Motion device-motion value."""
    names = [_suffix(f) for f in features]
    return names if names and all(n in CORE_MOTION_SOURCES for n in names) else None


def input_name(features) -> str:
    """``accelerations`` (the Exermote app's name) for Core Motion features, else
    ``sensorWindow``: the argument label Xcode's generated class gives the input."""
    return CORE_MOTION_INPUT if core_motion_names(features) else SENSOR_INPUT


def _seconds(timesteps: int, rate_hz: float) -> str:
    return f"{timesteps / rate_hz:g} s" if rate_hz > 0 else "unknown duration"


def describe_window(features, timesteps: int, rate_hz: float, *, scaled: bool,
                    layout: str, mirror_when: str | None = None, mirror_columns=()) -> str:
    """The input's description: what each value is, in which units and order, the layout, and
    the mirroring the training recordings had (an app must mirror the same recordings)."""
    names = core_motion_names(features)
    span = (f"{timesteps} timesteps at {rate_hz:g} Hz ({_seconds(timesteps, rate_hz)}, "
            f"oldest first)")
    if names:
        listed = ", ".join(f"{n} (CMDeviceMotion.{CORE_MOTION_SOURCES[n][0]}, "
                           f"{CORE_MOTION_SOURCES[n][1]})" for n in names)
        what = f"{len(names)} Core Motion device-motion features: {listed}"
    else:
        what = (f"{len(features)} sensor features in the units of the training recordings: "
                + ", ".join(features))
    units = ("SCALED: multiply each raw value by its scaling coefficient, then add its offset"
             if scaled else "RAW values (the training scaler is inside the model)")
    mirrored = ""
    if mirror_when and mirror_columns:
        mirrored = (f"; recordings with {mirror_when} were MIRRORED in training: negate "
                    f"{', '.join(mirror_columns)} of such recordings before calling the model")
    return f"{layout}: {span} x {what}; {units}{mirrored}"


def describe_scores(classes) -> str:
    return f"probability of each class, in the order {', '.join(classes)}"


def describe_purpose(classes, features, timesteps: int, rate_hz: float) -> str:
    """A one-sentence summary of what the model recognises from what."""
    names = core_motion_names(features)
    source = ("Core Motion device motion" if names
              else f"{len(features)} sensor features ({', '.join(features)})")
    return (f"Recognises {', '.join(classes)} from {_seconds(timesteps, rate_hz)} of "
            f"{source} at {rate_hz:g} Hz ({timesteps} timesteps)")
