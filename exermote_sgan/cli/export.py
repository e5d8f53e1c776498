"""``exermote-sgan export RUN_DIR --out NAME``: Core ML files of a trained classifier, verified.

Writes ``NAME.mlpackage`` (ML Program taking RAW sensor values), when the classifier fits the
public Exermote app ``Exermote.mlmodel`` beside it (the app's file and interface, SCALED input)
and on request ``NAME.tflite``.  Each file is checked against the Keras classifier on the run's
test windows and written on its own merits; the command reports each step as it starts (on
stderr), then the figures and the scaling coefficients the app needs.  Exit status 0 when every
file was written, 2 when any failed (the message names each failed file and its fix) or the
input was bad.
"""

from __future__ import annotations

import json
import sys

from ..errors import ExermoteInputError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a trained classifier to Core ML, verified against Keras",
        description="Turn RUN_DIR's classifier into NAME.mlpackage (ML Program, raw sensor "
                    "input, scaler inside, class label and scores) and, when its shape fits the "
                    "public Exermote iOS app, Exermote.mlmodel beside it (the app's drop-in "
                    "model, named as the app expects). Each file is read back, evaluated on "
                    "real test windows (NumPy evaluators; also Core ML itself on macOS) and "
                    "compared with the Keras classifier: scores within the precision's limit, "
                    "labels equal except at near-ties of Keras's scores within the measured "
                    "error. A file that fails is not written; the others are.")
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="run directory written by 'exermote-sgan train'")
    parser.add_argument("--out", required=True, metavar="NAME",
                        help="output path without extension; writes NAME.mlpackage, "
                             "Exermote.mlmodel in NAME's folder, and NAME.tflite")
    parser.add_argument("--precision", choices=("auto", "fp16", "fp32"), default="auto",
                        help="compute precision of the ML Program: fp16 (half the size; "
                             "scores checked to 5e-2), fp32 (checked to 1e-4), or auto "
                             "(default): fp16 when it passes its check, else fp32")
    parser.add_argument("--target", default="iOS15",
                        help="minimum deployment target, e.g. iOS15, iOS16, macOS12 "
                             "(default: iOS15)")
    parser.add_argument("--flexible-batch", action="store_true",
                        help="let the ML Program take any batch size (1..4096) instead of 1")
    parser.add_argument("--app-model", choices=("auto", "yes", "no"), default="auto",
                        help="write the Exermote app's model: auto = when the classifier fits "
                             "it, yes = fail if it does not, no = never (default: auto)")
    parser.add_argument("--app-model-name", default="Exermote", metavar="CLASS",
                        help="file name (without .mlmodel) of the app model, which is also "
                             "the class Xcode generates; the app uses Exermote (default)")
    parser.add_argument("--tflite", action="store_true",
                        help="also write NAME.tflite (raw input, builtin ops only) for Android, "
                             "checked with the TFLite interpreter")
    parser.add_argument("--windows", metavar="FILE", default=None,
                        help="windows file (.h5) to verify on instead of the run's own "
                             "(windows_path in preprocessing.json)")
    parser.add_argument("--max-windows", type=int, default=2000, metavar="N",
                        help="verify on at most N windows (default: 2000)")
    parser.add_argument("--author", default="", help="author metadata of the Core ML files")
    parser.add_argument("--license", default="", help="licence metadata of the Core ML files")
    parser.add_argument("--description", default="",
                        help="short description metadata (default: one generated from the run)")
    parser.add_argument("--model-version", default="", metavar="VERSION",
                        help="version metadata of the Core ML files (default: the "
                             "exermote_sgan version)")
    parser.add_argument("--json", action="store_true",
                        help="print the verification report as JSON instead of text")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr")
    parser.set_defaults(run=run)
    return parser


def _progress(message: str) -> None:
    # one write per line: print() writes the text and the newline separately, and the stderr
    # filter (_quiet) may pass the text on before the newline arrives, so the next stdout line
    # ran on ("labels agree 100.00%verified on ...")
    sys.stderr.write(f"export: {message}\n")
    sys.stderr.flush()


def run(args) -> int:
    from ..runs import load_run

    load_run(args.run_dir, load_classifier=False)  # a wrong path: one line, nothing else
    progress = None if args.quiet else _progress
    if progress:
        progress(f"exporting {args.run_dir}: loading TensorFlow and coremltools")
    from ..export.coreml_package import TARGETS
    from ..export.exporter import export_run
    from ..export.verify import VerificationError

    if args.target not in TARGETS:
        raise ExermoteInputError(f"--target must be one of {', '.join(TARGETS)}, got "
                                 f"{args.target!r}")
    if args.max_windows < 1:
        raise ExermoteInputError(f"--max-windows must be at least 1, got {args.max_windows}")
    try:
        report = export_run(args.run_dir, args.out, precision=args.precision, target=args.target,
                            flexible_batch=args.flexible_batch, app_model=args.app_model,
                            windows=args.windows, max_windows=args.max_windows,
                            author=args.author, license=args.license,
                            short_description=args.description, version=args.model_version,
                            tflite=args.tflite, app_model_name=args.app_model_name,
                            progress=progress)
    except VerificationError as exc:
        if exc.report is not None:
            _show(exc.report, as_json=args.json, quiet=args.quiet)
        raise
    _show(report, as_json=args.json, quiet=args.quiet)
    return 0


def _show(report, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(f"verified on the windows of {report.windows_source}")
    for path, checks in ((report.mlpackage, (report.mlpackage_check,
                                             report.mlpackage_runtime_check)),
                         (report.app_model, (report.app_model_check,
                                             report.app_model_runtime_check)),
                         (report.tflite, (report.tflite_check,))):
        if path is not None:
            print(f"wrote {path}: " + "; ".join(c.summary() for c in checks if c is not None))
    if report.runtime_note and quiet:  # otherwise a progress line said it
        print(f"Core ML runtime not used: {report.runtime_note}")
    if report.app_model is not None:
        if report.app_unused_features:
            print(f"The classifier does not read {', '.join(report.app_unused_features)}: "
                  "the app model gives them zero weights and zero scaling coefficients.")
        app = "ExermoteInference/ExermoteCoreML/ExermoteCoreML"
        if report.app_model.name != "Exermote.mlmodel":
            print(f"The Exermote app loads {app}/Model/Exermote.mlmodel (class Exermote); "
                  f"{report.app_model.name} generates the class {report.app_model.stem} "
                  "instead.")
        print(f"In the Exermote app, replace {app}/Model/Exermote.mlmodel with "
              f"{report.app_model.name} and PREDICTION_MANAGER_SCALING_COEFFICIENTS in "
              f"{app}/Utilities/Constants.swift with (multiply, then add, per feature):")
        print(report.swift_scaling)
    elif report.app_model_skipped:
        print(f"no Exermote app model: {'; '.join(report.app_model_skipped)}")
