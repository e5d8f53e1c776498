"""Synthetic recordings in the Exermote raw format, with known labels and repetition counts.

Why: the real recordings may not be redistributed with the package, yet the quickstart, fast
tests, repetition counting and the notebook need data with a known ground truth.  These files
have all 70 Exermote columns (the nearable columns left empty) and are read by the same
:func:`~exermote_sgan.recordings.readers.read_exermote_csv` as the real ones.

What a session looks like (10 Hz rows, a few ms of timestamp jitter, first row's features
empty like the real files): a short ``setBreak`` lead-in, then sets of Burpee, Situp and Squat
repetitions in a per-session order separated by ~25 s of ``setBreak``, then ``setBreak`` to the
end.  Each repetition is a ``firstHalf`` run then a ``secondHalf`` run, followed by a short
``Break``.  The motion is generated from a per-exercise posture trajectory (pitch/roll/yaw in
rad): gravity is the unit vector of that attitude (g), the rotation rate its time derivative
(rad/s), the user acceleration (g) an exercise-specific periodic pattern; every subject has
their own posture offsets, amplitude, tempo and noise level.  The ground truth (per recording:
subject, rows, and per set the exercise, repetition count and rows) is returned and written
to ``manifest.json``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text, ensure_writable_dir
from ..errors import ExermoteInputError
from .schema import EXERMOTE_COLUMNS, FIRST_HALF, SECOND_HALF


MANIFEST_NAME = "manifest.json"
EXERCISES = ("Burpee", "Situp", "Squat")
RATE_HZ = 10.0

# Per exercise: rows of the first and second half of a repetition, attitude at the start of a
# repetition and its excursion over the repetition (pitch, roll, yaw in rad), user acceleration
# amplitude per axis (g) and its harmonic.
_PROFILES = {
    "Burpee": dict(halves=(15, 24), start=(1.35, 0.05, 0.0), swing=(-1.25, 0.25, 0.15),
                   accel=(0.25, 0.9, 0.45), harmonic=2),
    "Situp": dict(halves=(12, 13), start=(0.05, 0.0, 0.0), swing=(1.15, -0.1, 0.05),
                  accel=(0.1, 0.3, 0.35), harmonic=1),
    "Squat": dict(halves=(13, 12), start=(1.4, 0.0, 0.0), swing=(-0.35, 0.05, 0.0),
                  accel=(0.05, 0.45, 0.15), harmonic=1),
}
_STAND = (1.4, 0.0, 0.0)


@dataclass(frozen=True)
class SyntheticSet:
    """One set: ``repetitions`` repetitions of ``exercise`` in data rows ``[start_row, end_row)``.

    Rows are 0-based data rows (row 0 is the file's first data row, line 2).  ``repetition_rows``
    holds ``[start, end)`` of each repetition (its firstHalf and secondHalf rows).
    """

    exercise: str
    repetitions: int
    start_row: int
    end_row: int
    repetition_rows: tuple[tuple[int, int], ...] = field(default_factory=tuple)


@dataclass
class SyntheticRecording:
    """A generated session: the rows of one raw file and its ground truth."""

    subject: int
    session: int
    start_time: datetime
    values: np.ndarray            # (rows, 12) float64, first row NaN
    labels: np.ndarray            # exerciseType per row
    sub_labels: np.ndarray        # exerciseSubType per row
    seconds: np.ndarray           # timestamps, seconds after start_time
    sets: list[SyntheticSet]

    @property
    def file_name(self) -> str:
        return f"{self.start_time:%Y-%m-%d %H-%M-%S} Synthetic {self.subject}.csv"


def _subject_style(subject: int, seed: int) -> dict:
    """Per-person variation, fixed by subject id and seed."""
    rng = np.random.default_rng([seed, subject, 7919])
    # pitch varies least between people: it is what tells the exercises apart
    return dict(offset=rng.normal(0.0, (0.04, 0.08, 0.15)), amplitude=rng.uniform(0.8, 1.2),
                tempo=rng.uniform(0.85, 1.15), noise=rng.uniform(0.015, 0.035),
                rep_break=int(rng.integers(6, 10)))


def _posture(rows: int, attitude, rng, sway: float) -> np.ndarray:
    """A still posture with slow sway: (rows, 3) attitude."""
    t = np.arange(rows)[:, None] / RATE_HZ
    phase = rng.uniform(0, 2 * np.pi, size=3)
    return np.asarray(attitude) + sway * np.sin(2 * np.pi * 0.2 * t + phase)


def _repetition(exercise: str, style: dict, rng) -> tuple[np.ndarray, np.ndarray, int]:
    """Attitude (rows, 3) and acceleration (rows, 3) of one repetition, and its firstHalf rows."""
    profile = _PROFILES[exercise]
    first, second = (max(4, int(round(h * style["tempo"] * rng.uniform(0.92, 1.08))))
                     for h in profile["halves"])
    # phase 0 -> 0.5 over the first half, 0.5 -> 1 over the second
    phi = np.r_[np.linspace(0, 0.5, first, endpoint=False), np.linspace(0.5, 1, second,
                                                                          endpoint=False)]
    bump = np.sin(np.pi * phi)[:, None]          # 0 -> 1 (middle) -> 0
    attitude = (np.asarray(profile["start"]) + style["offset"]
                + style["amplitude"] * np.asarray(profile["swing"]) * bump)
    wave = np.sin(2 * np.pi * profile["harmonic"] * phi)[:, None]
    accel = style["amplitude"] * np.asarray(profile["accel"]) * wave
    return attitude, accel, first


def synthesize_recording(subject: int, session: int = 0, *, rows: int = 1100, seed: int = 0,
                         set_break_s: float = 25.0, lead_in_s: float = 5.0,
                         repetitions=(3, 5)) -> SyntheticRecording:
    """Generate one session of ``rows`` rows for ``subject`` (deterministic in all arguments)."""
    if rows < 100:
        raise ExermoteInputError(f"a synthetic session needs at least 100 rows, got {rows}")
    rng = np.random.default_rng([seed, subject, session])
    style = _subject_style(subject, seed)
    orders = list(itertools.permutations(EXERCISES))
    order = orders[(7 * subject + 5 * session + seed) % len(orders)]
    lead_in, set_break = int(lead_in_s * RATE_HZ), int(set_break_s * RATE_HZ)
    stand = np.asarray(_STAND) + style["offset"]
    attitude, accel, labels, subs, sets = [], [], [], [], []
    pos = 0

    def add(att, acc, label, sub):
        nonlocal pos
        attitude.append(att)
        accel.append(acc)
        labels.extend([label] * len(att))
        subs.extend(sub if isinstance(sub, list) else [sub] * len(att))
        pos += len(att)

    def still(n, posture, label, sway):
        add(_posture(n, posture, rng, sway), np.zeros((n, 3)), label, label)

    still(lead_in, stand, "setBreak", 0.05)
    for k, exercise in enumerate(order):
        if k:
            if pos + set_break + lead_in >= rows:
                break
            still(set_break, stand, "setBreak", 0.05)
        rest = np.asarray(_PROFILES[exercise]["start"]) + style["offset"]
        wanted = int(rng.integers(repetitions[0], repetitions[1] + 1))
        start, reps_rows = pos, []
        for _ in range(wanted):
            att, acc, first = _repetition(exercise, style, rng)
            gap = style["rep_break"] + int(rng.integers(-1, 2))
            if pos + len(att) + gap + lead_in > rows:
                break
            reps_rows.append((pos, pos + len(att)))
            add(att, acc, exercise, [FIRST_HALF] * first + [SECOND_HALF] * (len(att) - first))
            still(gap, rest, "Break", 0.02)
        if reps_rows:
            sets.append(SyntheticSet(exercise=exercise, repetitions=len(reps_rows),
                                     start_row=start, end_row=reps_rows[-1][1],
                                     repetition_rows=tuple(reps_rows)))
    if pos < rows:
        still(rows - pos, stand, "setBreak", 0.05)
    attitude = np.concatenate(attitude)
    accel = np.concatenate(accel)
    noise = style["noise"]
    attitude = attitude + rng.normal(0, noise, attitude.shape)
    pitch, roll, yaw = attitude.T
    gravity = np.stack([np.cos(pitch) * np.sin(roll), -np.sin(pitch),
                        -np.cos(pitch) * np.cos(roll)], axis=1)
    rotation = np.gradient(attitude, axis=0) * RATE_HZ + rng.normal(0, 3 * noise, attitude.shape)
    accel = accel + rng.normal(0, noise, accel.shape)
    values = np.concatenate([gravity, accel, attitude, rotation], axis=1)
    values = np.round(values, 2)
    values[0] = np.nan
    jitter = np.clip(rng.normal(0, 0.003, rows), -0.008, 0.008)
    seconds = np.round(np.arange(rows) / RATE_HZ + jitter, 3)
    seconds[0] = 0.0
    start_time = (datetime(2020, 1, 1, 10, 0, 0) + timedelta(days=subject - 1)
                  + timedelta(minutes=10 * session))
    return SyntheticRecording(subject=subject, session=session, start_time=start_time,
                              values=values, labels=np.asarray(labels),
                              sub_labels=np.asarray(subs), seconds=seconds, sets=sets)


def _csv_text(recording: SyntheticRecording) -> str:
    empty_nearables = "," * 54  # 54 empty nearable fields, each followed by a comma
    lines = [",".join(EXERMOTE_COLUMNS)]
    stamps = [recording.start_time + timedelta(milliseconds=int(round(s * 1000)))
              for s in recording.seconds]
    for i in range(len(recording.values)):
        row = recording.values[i]
        features = ("," * 11 if np.isnan(row[0])
                    else ",".join(f"{v:.2f}".replace("-0.00", "0.00") for v in row))
        stamp = f"{stamps[i]:%Y-%m-%d %H:%M:%S}:{stamps[i].microsecond // 1000:03d}"
        lines.append(f"{empty_nearables}{features},{recording.labels[i]},"
                     f"{recording.sub_labels[i]},{stamp},{recording.subject}")
    return "\n".join(lines) + "\n"


def write_synthetic_recordings(out_dir, *, subjects=(1, 2, 3, 4), sessions_per_subject: int = 1,
                               rows_per_session: int = 1100, seed: int = 0) -> list[Path]:
    """Write synthetic raw Exermote CSVs and ``manifest.json`` (ground truth) to ``out_dir``.

    Returns the CSV paths in sorted order.  The same arguments always give byte-identical
    files.  Each session holds one set of each exercise (3-5 repetitions) when
    ``rows_per_session`` leaves room for them.
    """
    subjects = tuple(int(s) for s in subjects)
    if not subjects or len(set(subjects)) != len(subjects) or min(subjects) < 1:
        raise ExermoteInputError(f"subjects must be distinct ids >= 1, got {subjects}")
    if sessions_per_subject < 1:
        raise ExermoteInputError(f"sessions_per_subject must be >= 1, got {sessions_per_subject}")
    out_dir = ensure_writable_dir(out_dir)
    entries, paths = [], []
    for subject in subjects:
        for session in range(sessions_per_subject):
            rec = synthesize_recording(subject, session, rows=rows_per_session, seed=seed)
            path = out_dir / rec.file_name
            atomic_write_text(path, _csv_text(rec))
            paths.append(path)
            entries.append({"file": rec.file_name, "subject": subject, "session": session,
                            "rows": int(len(rec.values)),
                            "sets": [asdict(s) for s in rec.sets]})
    manifest = {
        "generator": "exermote_sgan.recordings.synthetic.write_synthetic_recordings",
        "arguments": {"subjects": list(subjects), "sessions_per_subject": sessions_per_subject,
                      "rows_per_session": rows_per_session, "seed": seed},
        "rows": "0-based data rows (row 0 is the line after the header); end rows exclusive",
        "recordings": sorted(entries, key=lambda e: e["file"]),
    }
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    return sorted(paths)


def read_manifest(path) -> dict:
    """The ground truth written by :func:`write_synthetic_recordings` (a file or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExermoteInputError(f"cannot read manifest ({exc.strerror})", path=path) from None
    except json.JSONDecodeError as exc:
        raise ExermoteInputError(f"not valid JSON ({exc})", path=path) from None


#: the activities of :func:`write_public_example`, and each one's (step frequency in Hz,
#: acceleration amplitude in g, rotation amplitude in rad/s); "TURNING" turns about z
PUBLIC_ACTIVITIES = {"WALKING": (1.8, 0.35, 0.6), "TURNING": (1.2, 0.2, 2.0),
                     "SEATED": (0.0, 0.01, 0.02), "SITTING_DOWN": (0.5, 0.3, 0.8),
                     "STANDING_UP": (0.5, 0.35, 0.9)}
PUBLIC_COLUMNS = ("timestamp", "x_acc", "y_acc", "z_acc", "x_gyro", "y_gyro", "z_gyro",
                  "label")
_PUBLIC_ORDER = ("STANDING_UP", "WALKING", "TURNING", "WALKING", "TURNING", "SITTING_DOWN",
                 "SEATED")


def _public_rows(subject: int, execution: int, device: str, *, rate_hz: float,
                 seconds: float, rng) -> list[str]:
    """One recording's CSV lines: unix-ms timestamps with jitter, a few late rows (45-58 ms
    gaps) and one exactly repeated timestamp, as phone and watch loggers write them."""
    n_per = int(seconds * rate_hz)
    labels = np.repeat(np.asarray(_PUBLIC_ORDER), n_per)
    t = np.arange(len(labels)) / rate_hz
    freq, acc, gyro = (np.array([PUBLIC_ACTIVITIES[x][k] for x in labels]) for k in range(3))
    scale = 1.0 + 0.1 * subject + (0.3 if device == "ph" else 0.0)
    phase = 2 * np.pi * freq * t
    wave = np.sin(phase)[:, None] * np.array([1.0, 0.6, 0.3]) * acc[:, None] * scale
    spin = np.cos(phase)[:, None] * np.array([0.3, 0.5, 1.0]) * gyro[:, None] * scale
    wave[:, 2] += -1.0  # gravity on z
    values = np.round(np.concatenate([wave, spin], axis=1)
                      + rng.normal(0, 0.02, (len(t), 6)), 4)
    ms = np.round((t + rng.uniform(-0.002, 0.002, len(t))) * 1000).astype(np.int64)
    for row in rng.choice(np.arange(10, len(t) - 10), 5, replace=False):
        ms[row:] += int(rng.integers(35, 48))  # a late row: a 45-58 ms interval at 100 Hz
    dup = int(rng.integers(10, len(t) - 10))
    ms[dup] = ms[dup - 1]  # one exactly repeated timestamp
    start = 1_600_000_000_000 + 86_400_000 * subject + 3_600_000 * execution
    lines = [",".join(PUBLIC_COLUMNS)]
    lines += [f"{start + m}," + ",".join(f"{v:g}" for v in row) + f",{lab}"
              for m, row, lab in zip(ms, values, labels)]
    return lines


def write_public_example(out_dir, *, subjects=(1, 2, 3), executions: int = 2,
                         rate_hz: float = 100.0, seconds_per_activity: float = 6.0,
                         seed: int = 0) -> list[Path]:
    """Write a small dataset laid out like public smartwatch datasets: per-subject folders
    ``s<k>/`` holding a watch file ``s<k>_<e>_sw.csv`` and a phone file ``s<k>_<e>_ph.csv``
    per execution (unix-ms ``timestamp``, six IMU columns, a ``label`` of five daily
    activities, :data:`PUBLIC_COLUMNS`), and ``executions_info.csv`` (metadata) beside the
    folders.  The timestamps jitter, some rows come late and one repeats, as real loggers
    write them.  Returns the watch files; deterministic in all arguments.  For the new-user
    walkthrough in ``docs/data.md`` (``exermote-sgan inspect``); it contains no real data.
    """
    subjects = tuple(int(s) for s in subjects)
    if not subjects or len(set(subjects)) != len(subjects) or min(subjects) < 1:
        raise ExermoteInputError(f"subjects must be distinct ids >= 1, got {subjects}")
    if executions < 1 or not rate_hz > 0 or not seconds_per_activity >= 3:
        raise ExermoteInputError("executions must be >= 1, rate_hz > 0 and "
                                 "seconds_per_activity >= 3")
    out_dir = ensure_writable_dir(out_dir)
    watch, info = [], ["subject,execution,watch_file,phone_file,duration_s"]
    for subject in subjects:
        for execution in range(1, executions + 1):
            names = {}
            for device in ("sw", "ph"):
                rng = np.random.default_rng([seed, subject, execution, device == "ph"])
                path = out_dir / f"s{subject}" / f"s{subject}_{execution}_{device}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, "\n".join(_public_rows(
                    subject, execution, device, rate_hz=rate_hz,
                    seconds=seconds_per_activity, rng=rng)) + "\n")
                names[device] = path.relative_to(out_dir).as_posix()
            watch.append(out_dir / names["sw"])
            info.append(f"{subject},{execution},{names['sw']},{names['ph']},"
                        f"{seconds_per_activity * len(_PUBLIC_ORDER):g}")
    atomic_write_text(out_dir / "executions_info.csv", "\n".join(info) + "\n")
    return watch
