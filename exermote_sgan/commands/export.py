"""``exermote-sgan export RUN_DIR --out NAME``: Core ML files of a trained classifier, verified.

Writes ``NAME.mlpackage`` (ML Program taking RAW Core Motion values), when the classifier fits
the public Exermote app ``NAME.mlmodel`` (the app's interface, SCALED input) and on request
``NAME.tflite``, checks each
file against the Keras classifier on the run's test windows, and prints the figures and the
scaling coefficients the app needs.
"""

from __future__ import annotations

import json
import logging
import os

from ..errors import ExermoteInputError

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a trained classifier to Core ML, verified against Keras",
        description="Turn RUN_DIR's classifier into NAME.mlpackage (ML Program, raw sensor "
                    "input, scaler inside, class label and scores) and, when its shape fits the "
                    "public Exermote iOS app, NAME.mlmodel (the app's drop-in model). Each file "
                    "is read back, evaluated in NumPy on real test windows and compared with "
                    "the Keras classifier; a file that does not match is not written.")
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="run directory written by 'exermote-sgan train'")
    parser.add_argument("--out", required=True, metavar="NAME",
                        help="output path without extension; writes NAME.mlpackage (and "
                             "NAME.mlmodel)")
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16",
                        help="compute precision of the ML Program (default: fp16; checked to "
                             "1e-2 and 99.9%% label agreement, fp32 to 1e-4 and 100%%)")
    parser.add_argument("--target", default="iOS15",
                        help="minimum deployment target, e.g. iOS15, iOS16, macOS12 "
                             "(default: iOS15)")
    parser.add_argument("--flexible-batch", action="store_true",
                        help="let the ML Program take any batch size (1..4096) instead of 1")
    parser.add_argument("--app-model", choices=("auto", "yes", "no"), default="auto",
                        help="write NAME.mlmodel for the Exermote app: auto = when the model "
                             "fits it, yes = fail if it does not, no = never (default: auto)")
    parser.add_argument("--tflite", action="store_true",
                        help="also write NAME.tflite (raw input, builtin ops only) for Android, "
                             "checked with the TFLite interpreter")
    parser.add_argument("--windows", metavar="FILE", default=None,
                        help="windows file (.h5) to verify on instead of the run's own "
                             "(windows_path in preprocessing.json)")
    parser.add_argument("--max-windows", type=int, default=2000, metavar="N",
                        help="verify on at most N windows (default: 2000)")
    parser.add_argument("--author", default="", help="author metadata of the .mlpackage")
    parser.add_argument("--license", default="", help="license metadata of the .mlpackage")
    parser.add_argument("--description", default="",
                        help="short description metadata (default: one generated from the run)")
    parser.add_argument("--model-version", default="", metavar="VERSION",
                        help="version metadata of the .mlpackage")
    parser.add_argument("--json", action="store_true",
                        help="print the verification report as JSON instead of text")
    parser.set_defaults(run=run)
    return parser


def _quiet_converters():
    """Keep coremltools' import warnings and progress bars off the command's output."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")


def run(args) -> int:
    _quiet_converters()
    from ..export.coreml_package import TARGETS
    from ..export.exporter import export_run

    if args.target not in TARGETS:
        raise ExermoteInputError(f"--target must be one of {', '.join(TARGETS)}, got "
                                 f"{args.target!r}")
    if args.max_windows < 1:
        raise ExermoteInputError(f"--max-windows must be at least 1, got {args.max_windows}")
    report = export_run(args.run_dir, args.out, precision=args.precision, target=args.target,
                        flexible_batch=args.flexible_batch, app_model=args.app_model,
                        windows=args.windows, max_windows=args.max_windows, author=args.author,
                        license=args.license, short_description=args.description,
                        version=args.model_version, tflite=args.tflite)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(f"verified on {report.mlpackage_check.windows} windows ({report.windows_source})")
    print(f"wrote {report.mlpackage} ({report.precision}): {report.mlpackage_check.summary()}")
    if report.app_model is not None:
        print(f"wrote {report.app_model} (Exermote app model, fp32): "
              f"{report.app_model_check.summary()}")
        if report.app_unused_features:
            print(f"The classifier does not read {', '.join(report.app_unused_features)}: "
                  "the app model gives them zero weights and zero scaling coefficients.")
        print("The app scales each sample itself; paste into Constants.swift "
              "(multiply, then add, per feature):")
        print(report.swift_scaling)
    else:
        print(f"no Exermote app model: {'; '.join(report.app_model_skipped)}")
    if report.tflite is not None:
        print(f"wrote {report.tflite} (TFLite, fp32): {report.tflite_check.summary()}")
    return 0
