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


def learn_run_profile(run_dir, paths, *, inner_runs=()) -> PeriodProfile:
    """Learn the period profile of a run from labelled recordings (Exermote files with
    ``exerciseSubType``) of its training people, in the run's scaled feature space, and
    write it into the run directory.  Recordings of the run's test people are refused: they
    would make the counts the run is evaluated on part of what it learned.

    ``inner_runs``: runs trained on some of the run's training people and tested on others
    of them (never on the run's test people): their classifiers find the sets of their test
    people's recordings among ``paths`` as on people they never saw, and how those found
    spans miss the labelled ones (:func:`span_errors`) is what each exercise's counting rule
    is chosen for."""
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
    errors = inner_span_errors(inner_runs, paths, run_prep=prep) if inner_runs else None
    sets = labelled_sets(recordings, scale=prep.scaler.scale_, offset=prep.scaler.offset_)
    profile = learn_profile(sets, rate_hz=prep.sample_rate_hz, features=prep.features,
                            span_errors=errors)
    profile.save(Path(run_dir) / PERIOD_PROFILE_FILE)
    return profile


def inner_span_errors(inner_runs, paths, *, run_prep) -> dict:
    """:func:`span_errors` of the sets each inner run's classifier finds on the recordings
    (among ``paths``) of its test people; each inner run is checked first: tested only on
    training people of the run (``run_prep``), trained on none of its test people."""
    import warnings

    from ..runs import load_run
    from .ground_truth import true_sets
    from .rep_evaluation import match_sets
    from .streaming import SkippedRowWarning, load_recognizer_parts, recognize_recording

    training = set(run_prep.provenance.training_subjects or ())
    tested = set(run_prep.provenance.test_subjects or ())
    matches = []
    for inner in inner_runs:
        if not is_inner_run(load_run(inner, load_classifier=False).preprocessing, run_prep):
            raise ExermoteInputError(
                f"is no inner run of this run: it must be tested on some of the run's "
                f"training people {sorted(training)} and trained on none of its test people "
                f"{sorted(tested)} (train it with --test-subjects among the former on windows "
                f"without the latter)", path=inner)
    for inner in inner_runs:
        prep, classifier = load_recognizer_parts(inner)
        own_tests = set(prep.provenance.test_subjects)
        for path in paths:
            for recording in read_for_run(path, prep):
                if int(recording.subject) not in own_tests:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SkippedRowWarning)
                    found = recognize_recording(prep, classifier,
                                                align_features(recording, prep),
                                                times=recording.timestamps,
                                                counting="hysteresis", path=path).sets
                matches += match_sets(true_sets(recording), found, recording=str(path))
    return span_errors(matches)


def is_inner_run(inner_prep, run_prep) -> bool:
    """Whether the run ``inner_prep`` describes is an inner run of the one ``run_prep``
    describes: tested on some of its training people, trained on none of its test people."""
    own_tests = set(inner_prep.provenance.test_subjects or ())
    return (bool(own_tests)
            and own_tests <= set(run_prep.provenance.training_subjects or ())
            and not set(inner_prep.provenance.training_subjects or ())
            & set(run_prep.provenance.test_subjects or ()))


def span_errors(matches) -> dict:
    """exercise -> ``[(start, end), ...]``: how far (seconds) each found set's start and end
    lie from its labelled set's (found minus labelled), over the matched sets of ``matches``
    (:func:`~exermote_sgan.inference.rep_evaluation.match_sets`).  Measured with a classifier
    on people it never trained on, they are the span errors
    :func:`~exermote_sgan.inference.periods.learn_profile` chooses each exercise's rule for."""
    out: dict = {}
    for m in matches:
        if m.true_span is not None and m.detected_span is not None:
            out.setdefault(m.exercise, []).append(
                (float(m.detected_span[0] - m.true_span[0]),
                 float(m.detected_span[1] - m.true_span[1])))
    return out
