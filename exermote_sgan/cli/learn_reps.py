"""``exermote-sgan learn-reps``: the period counter's profile, learned for one run."""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "learn-reps",
        help="learn how each exercise's repetitions look, for the run's period counter",
        description="Learn the period counter's profile (each exercise's plausible period "
                    "range, axis and polarity; the peak prominence and context) from labelled "
                    "recordings (Exermote files with exerciseSubType) of the run's TRAINING "
                    "people, in the run's scaled features, and write it into the run "
                    "directory as rep_periods.json.  predict, evaluate-reps and the streaming "
                    "recogniser then count each set's repetitions as periods of the movement; "
                    "a run without it keeps the classifier's (hysteresis) count.  Recordings "
                    "of the run's test people are refused.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by "
                        "'exermote-sgan train'")
    parser.add_argument("recordings", metavar="RECORDING", nargs="+",
                        help="labelled recordings of the run's training people, or folders of "
                             "them")
    parser.add_argument("--inner-runs", metavar="RUN_DIR", nargs="+", default=(),
                        help="runs trained without the run's test people and tested on some "
                             "of its training people (whose recordings are among RECORDING): "
                             "each exercise's counting rule is then chosen for the set spans "
                             "such a classifier finds on people it never saw (default: spans "
                             "running 5 s past the set)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from ..recordings.readers import find_csv_files
    from ..inference.rep_learning import learn_run_profile
    from ..runs import PERIOD_PROFILE_FILE

    paths = find_csv_files(args.recordings)
    profile = learn_run_profile(args.run_dir, paths, inner_runs=args.inner_runs)
    for name, rhythm in profile.exercises.items():
        print(f"{name}: periods {rhythm.period_min_s:.1f}-{rhythm.period_max_s:.1f} s, "
              f"repetitions as {'peaks' if rhythm.polarity > 0 else 'troughs'}, "
              f"{_rule(rhythm)}")
    spans = ("found by the inner runs' classifiers" if args.inner_runs
             else "running 5 s past the set")
    print(f"rules chosen on the labelled spans and on spans {spans}")
    gain = ("not measured" if profile.edge_gain is None else
            f"{profile.edge_gain:+.2f} exact share on the training people")
    print(f"a found set needs at least {profile.min_set_repetitions} repetitions; "
          f"rules: {gain} (inner leave-one-person-out)")
    print(f"learned on subjects {list(profile.trained_on)}; wrote "
          f"{args.run_dir}/{PERIOD_PROFILE_FILE}")
    return 0


def _rule(rhythm) -> str:
    if rhythm.rule == "chain":
        return (f"a chain of periods (edge ratio {rhythm.edge_ratio:.2f}, reach "
                f"{rhythm.reach_s:.1f} s)")
    return f"edge ratio {rhythm.edge_ratio:.2f}, gap ratio {rhythm.gap_ratio:.2f}"
