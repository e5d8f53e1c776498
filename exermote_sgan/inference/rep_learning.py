"""A run's period profile, learned from labelled recordings of its training people.

Apart from :mod:`.periods` (the counter's numerics), because learning reads recordings as the
run reads them (:mod:`.recordings`), which the counters themselves never need.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import ExermoteInputError
from .periods import PeriodProfile, labelled_sets, learn_profile
from .recordings import align_features, read_for_run


def learn_run_profile(run_dir, paths) -> PeriodProfile:
    """Learn the period profile of a run from labelled recordings (Exermote files with
    ``exerciseSubType``) of its training people, in the run's scaled feature space, and
    write it into the run directory.  Recordings of the run's test people are refused: they
    would make the counts the run is evaluated on part of what it learned."""
    from ..runs import PERIOD_PROFILE_FILE, load_run

    prep = load_run(run_dir, load_classifier=False).preprocessing
    tested = set(prep.provenance.test_subjects or ())
    recordings = []
    for path in paths:
        for recording in read_for_run(path, prep):
            if int(recording.subject) in tested:
                raise ExermoteInputError(
                    f"holds subject {recording.subject}, a test subject of the run: learn "
                    f"from the training people's recordings only", path=path)
            recordings.append(replace(recording, values=align_features(recording, prep),
                                      features=tuple(prep.features)))
    sets = labelled_sets(recordings, scale=prep.scaler.scale_, offset=prep.scaler.offset_)
    profile = learn_profile(sets, rate_hz=prep.sample_rate_hz, features=prep.features)
    profile.save(Path(run_dir) / PERIOD_PROFILE_FILE)
    return profile
