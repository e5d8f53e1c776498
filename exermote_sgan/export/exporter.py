"""Export a run directory's classifier to Core ML and prove the files compute what Keras does.

:func:`export_run` writes ``NAME.mlpackage`` (raw input, scaler inside, classifier outputs),
when the model's shape fits the public Exermote app ``Exermote.mlmodel`` beside it (the app's
file name and interface, on scaled input, reading the app's 12 features even when the
classifier uses fewer), and optionally ``NAME.tflite``.  Each file is staged, read back,
evaluated on real test windows (NumPy evaluators; Core ML itself too on a Mac) and compared
with the Keras classifier by the rule of :mod:`exermote_sgan.export.verify`, and written on its
own merits: a file that fails is not written (an earlier file of that name is left as it was),
the others are, and the export then raises :class:`VerificationError` naming each failed file
and its fix.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..atomic import (atomic_output, check_output_file, check_replaceable_dir,
                      ensure_writable_dir)
from ..errors import ExermoteInputError
from .coreml_package import PRECISIONS, PackageOptions
from .verify import Verification, VerificationError

__all__ = ["ExportReport", "export_run", "APP_MODEL_CHOICES", "EXPORT_PRECISIONS"]

APP_MODEL_CHOICES = ("auto", "yes", "no")
#: ``auto``: FP16 (half the size, the Neural Engine's format) when the FP16 file passes its
#: check, else FP32, which is what the check's fix would be; ``fp16``/``fp32`` insist
EXPORT_PRECISIONS = ("auto",) + PRECISIONS
FILE_KINDS = ("mlpackage", "app_model", "tflite")


@dataclass
class ExportReport:
    """What :func:`export_run` wrote and how each file compared with the Keras classifier.

    ``precision`` is the ML Program's precision as written; ``precision_note`` says why
    ``auto`` chose FP32.  ``*_check`` is the NumPy (or TFLite) evaluation, ``*_runtime_check``
    the Core ML one (only where Core ML runs), also for a file that failed (then its path is
    None); ``failures`` maps each file kind that was not written to why and how to fix it;
    ``runtime_note`` says why Core ML did not run the files, if it did not.
    """

    run_dir: Path
    precision: str
    windows_source: str
    mlpackage: Path | None = None
    mlpackage_check: Verification | None = None
    mlpackage_runtime_check: Verification | None = None
    app_model: Path | None = None
    app_model_check: Verification | None = None
    app_model_runtime_check: Verification | None = None
    app_model_skipped: list[str] = field(default_factory=list)
    app_unused_features: list[str] = field(default_factory=list)
    tflite: Path | None = None
    tflite_check: Verification | None = None
    scaling_coefficients: tuple[list[float], list[float]] | None = None
    swift_scaling: str = ""
    input_name: str = ""
    runtime_note: str = ""
    precision_note: str = ""
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        def check(value):
            return value.to_dict() if value is not None else None

        def path(value):
            return str(value) if value is not None else None

        return {
            "run_dir": str(self.run_dir), "precision": self.precision,
            "precision_note": self.precision_note,
            "windows_source": self.windows_source, "input_name": self.input_name,
            "passed": self.passed, "failures": dict(self.failures),
            "runtime_note": self.runtime_note,
            "mlpackage": path(self.mlpackage), "mlpackage_check": check(self.mlpackage_check),
            "mlpackage_runtime_check": check(self.mlpackage_runtime_check),
            "app_model": path(self.app_model), "app_model_check": check(self.app_model_check),
            "app_model_runtime_check": check(self.app_model_runtime_check),
            "app_model_skipped": list(self.app_model_skipped),
            "app_unused_features": list(self.app_unused_features),
            "tflite": path(self.tflite), "tflite_check": check(self.tflite_check),
            "scaling_coefficients": ({"multiply": self.scaling_coefficients[0],
                                      "add": self.scaling_coefficients[1]}
                                     if self.scaling_coefficients else None),
        }


def _output_paths(out, app_model_name: str) -> tuple[Path, Path, Path]:
    out = Path(out)
    if out.suffix in (".mlpackage", ".mlmodel", ".tflite"):
        out = out.with_suffix("")
    if not out.name:
        raise ExermoteInputError("output name is empty", path=out)
    return (out.with_name(out.name + ".mlpackage"),
            out.with_name(app_model_name + ".mlmodel"), out.with_name(out.name + ".tflite"))


def _check_paths(run_dir, out, *, app_model_name: str, app_model: str, tflite: bool, windows,
                 max_windows) -> tuple[Path, tuple[Path, Path, Path]]:
    """``(run_dir, output paths)`` once the paths and ``max_windows`` are checked, before
    TensorFlow loads: a wrong type, a missing windows file, a file where a folder belongs or a
    folder of the user's where the ``.mlpackage`` would replace it is one error."""
    from ..errors import as_path

    run_dir, out = as_path(run_dir, option="run_dir"), as_path(out, option="out")
    if isinstance(max_windows, bool) or not isinstance(max_windows, numbers.Integral) or \
            max_windows < 1:
        raise ExermoteInputError(f"must be a whole number of at least 1, got {max_windows!r}",
                                 option="max_windows")
    package_path, app_path, tflite_path = _output_paths(out, app_model_name)
    # the package is a folder replaced as a whole: never one of the user's
    check_replaceable_dir(package_path, markers=("Manifest.json",), what="a Core ML package")
    for path, written in ((app_path, app_model != "no"), (tflite_path, tflite)):
        if written:
            check_output_file(path, option="--out")
    if windows is not None:  # a missing or unreadable file
        from ..data.windows_file import read_subjects

        read_subjects(windows)
    ensure_writable_dir(package_path.parent)
    return run_dir, (package_path, app_path, tflite_path)


def _fix(kind: str, precision: str, failed: list[Verification]) -> str:
    """What to do when a file of ``kind`` fails ``failed`` checks."""
    if _rounding_only(kind, precision, failed):
        return ("re-export with --precision fp32 (float32 weights and compute, checked to "
                "1e-4); if that fails too, the conversion is wrong: report it with the run "
                "directory")
    if kind == "mlpackage":
        return ("the conversion is wrong, not rounded: report it with the run directory; use "
                "the other files meanwhile")
    if kind == "app_model":
        return ("use the .mlpackage, or --app-model no to skip the app model; report it with "
                "the run directory")
    return "leave out --tflite; report it with the run directory"


def _rounding_only(kind: str, precision: str, failed: list[Verification]) -> bool:
    """Whether an FP16 ML Program failed by rounding alone, so that FP32 is the fix."""
    return (kind == "mlpackage" and precision == "fp16" and bool(failed)
            and all(c.label_output_consistent for c in failed))


class _Rejected(Exception):
    def __init__(self, reason: str, failed: list[Verification]):
        self.reason, self.failed = reason, failed


def _write_checked(destination: Path, *, directory: bool, stage: Callable,
                   check: Callable) -> list[Verification]:
    """Stage the file, run ``check(staged)`` (a list of :class:`Verification`) and rename it
    into place only if every check passed; raise :class:`_Rejected` (nothing written) if not."""
    from .mil_evaluator import UnsupportedOpError

    with atomic_output(destination, directory=directory) as staged:
        stage(staged)
        try:
            checks = [replace(c, artifact=destination.name) for c in check(staged)]
        except UnsupportedOpError as exc:
            raise _Rejected(f"{destination.name} cannot be verified: {exc}", []) from None
        failed = [c for c in checks if not c.passed]
        if failed:
            raise _Rejected("; ".join(c.summary() for c in failed), failed)
    return checks


@contextlib.contextmanager
def _quiet_converters():
    """coremltools and TensorFlow log a dozen warnings on import and conversion (no Core ML
    runtime on Linux, untested versions, int64 constants); the export reports by itself."""
    loggers = [logging.getLogger(name) for name in ("coremltools", "tensorflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_run(run_dir, out, *, precision: str = "auto", target: str = "iOS15",
               flexible_batch: bool = False, app_model: str = "auto", windows=None,
               max_windows: int = 2000, author: str = "", license: str = "",
               short_description: str = "", version: str = "", tflite: bool = False,
               app_model_name: str = "Exermote",
               progress: Callable[[str], None] | None = None) -> ExportReport:
    """Export ``run_dir``'s classifier to ``out.mlpackage`` (and ``Exermote.mlmodel``), verified.

    ``precision``: ``"auto"`` (default) writes an FP16 ML Program when it passes its check and
    an FP32 one when FP16 rounding moves the scores too far (the report's ``precision_note``
    says so); ``"fp16"`` or ``"fp32"`` insist on one.

    ``app_model``: ``"auto"`` writes the Exermote app model when the classifier fits the app,
    ``"yes"`` requires it (error if it does not fit), ``"no"`` skips it.  It is written as
    ``app_model_name + ".mlmodel"`` in ``out``'s folder: the app's file is ``Exermote.mlmodel``
    and Xcode names the generated classes after the file.  ``windows`` overrides the run's
    windows file for verification.  ``tflite=True`` also writes ``out.tflite``.  ``author``,
    ``license``, ``version`` and ``short_description`` go into both Core ML files (defaults
    say where they came from).  ``progress`` receives one line per step as it starts.

    Raises :class:`ExermoteInputError` for bad input (nothing written) and
    :class:`~exermote_sgan.export.verify.VerificationError` when a file fails its check: that
    file is not written, the others are, and the error's ``report`` says which is which.
    """
    with _quiet_converters():
        return _export_run(run_dir, out, precision=precision, target=target,
                           flexible_batch=flexible_batch, app_model=app_model, windows=windows,
                           max_windows=max_windows, author=author, license=license,
                           short_description=short_description, version=version,
                           tflite=tflite, app_model_name=app_model_name, progress=progress)


def _export_run(run_dir, out, *, precision, target, flexible_batch, app_model, windows,
                max_windows, author, license, short_description, version, tflite,
                app_model_name, progress) -> ExportReport:
    from ..runs import CLASSIFIER_FILE, load_run, with_classifier
    from .app_model import (APP_MODEL_FILE, app_feature_positions, app_model_problems,
                            app_scaling_coefficients, app_windows, build_app_spec,
                            describe_app_spec, save_app_spec, swift_scaling_constant,
                            unused_app_features, widen_to_app_features)
    from .coreml_package import (build_mlpackage, default_author, default_license,
                                 default_version, stage_mlpackage)
    from .naming import describe_purpose, input_name
    from .runtime import (app_model_runtime_scores, coreml_runtime_status,
                          mlpackage_runtime_scores)
    from .tflite import build_tflite, stage_tflite
    from .verify import (compare_scores, keras_scores, labels_consistent,
                         select_verification_windows, verify_app_model, verify_mlpackage,
                         verify_tflite)
    from .weights import extract_weights

    say = progress or (lambda message: None)
    if precision not in EXPORT_PRECISIONS:
        raise ExermoteInputError(f"precision must be one of {', '.join(EXPORT_PRECISIONS)}, "
                                 f"got {precision!r}", option="precision")
    requested, precision = precision, ("fp16" if precision == "auto" else precision)
    if app_model not in APP_MODEL_CHOICES:
        raise ExermoteInputError(f"app_model must be one of {', '.join(APP_MODEL_CHOICES)}, "
                                 f"got {app_model!r}", option="app_model")
    if not app_model_name or Path(app_model_name).name != app_model_name or not (
            app_model_name[0].isalpha() and app_model_name.replace("_", "").isalnum()):
        raise ExermoteInputError(f"the app model name must be a Swift class name such as "
                                 f"Exermote (letters, digits, _), got {app_model_name!r}",
                                 option="app_model_name")
    try:
        options = PackageOptions(precision=precision, target=target,
                                 flexible_batch=bool(flexible_batch), author=author,
                                 license=license, short_description=short_description,
                                 version=version)
    except ValueError as exc:
        raise ExermoteInputError(str(exc)) from None
    run_dir, (package_path, app_path, tflite_path) = _check_paths(
        run_dir, out, app_model_name=app_model_name, app_model=app_model, tflite=tflite,
        windows=windows, max_windows=max_windows)

    header = load_run(run_dir, load_classifier=False)  # a wrong path: said before Keras loads
    say(f"loading the run {run_dir} (TensorFlow and Keras)")
    run = with_classifier(header)
    prep = run.preprocessing
    weights = extract_weights(run.classifier, path=Path(run_dir) / CLASSIFIER_FILE)
    problems = app_model_problems(weights, prep) if app_model != "no" else []
    if app_model == "yes" and problems:
        raise ExermoteInputError("cannot write the Exermote app model: " + "; ".join(problems)
                                 + " (use --app-model auto or no)", path=run_dir)
    raw, source = select_verification_windows(prep, windows_path=windows,
                                              max_windows=max_windows)
    say(f"computing the Keras classifier's scores on {len(raw)} verification windows "
        f"({source})")
    scaled = prep.scaler.transform(raw)
    expected = keras_scores(run.classifier, scaled)

    write_app = app_model != "no" and not problems
    # the app feeds its 12 features; coefficients are given in its order when the model fits
    positions = app_feature_positions(prep.features) if write_app else None
    report = ExportReport(Path(run_dir), precision, source,
                          scaling_coefficients=app_scaling_coefficients(prep.scaler, positions),
                          swift_scaling=swift_scaling_constant(prep.scaler, positions),
                          input_name=input_name(prep.features))
    if app_model == "no":
        report.app_model_skipped = ["not requested"]
    elif problems:
        report.app_model_skipped = problems
    else:
        report.app_unused_features = unused_app_features(positions)
    runtime, report.runtime_note = coreml_runtime_status()
    if report.runtime_note:
        say(f"Core ML runtime not used: {report.runtime_note}")

    def attempt(kind: str, destination: Path, *, directory: bool, stage, check,
                precision: str = precision, fall_back: bool = False) -> bool:
        """Write one file if it passes; ``fall_back``: an FP16 ML Program that fails only by
        rounding is left for an FP32 attempt instead of being reported."""
        try:
            checks = _write_checked(destination, directory=directory, stage=stage, check=check)
        except _Rejected as rejected:
            if fall_back and _rounding_only(kind, precision, rejected.failed):
                report.precision_note = (f"FP16 rounding moved the scores beyond the limit "
                                         f"({rejected.reason}), so the ML Program is FP32")
                say(report.precision_note)
                return False
            fix = _fix(kind, precision, rejected.failed)
            report.failures[kind] = (f"{destination.name} FAILED, not written: "
                                     f"{rejected.reason}; fix: {fix}")
            say(report.failures[kind])
            if rejected.failed:  # the figures of the file that was not written
                setattr(report, f"{kind}_check", rejected.failed[0])
            return False
        setattr(report, kind, destination)
        setattr(report, f"{kind}_check", checks[0])
        if len(checks) > 1:
            setattr(report, f"{kind}_runtime_check", checks[1])
        say("wrote " + "; ".join(c.summary() for c in checks))
        return True

    # 1. the ML Program
    def write_package(package_precision: str, *, fall_back: bool) -> bool:
        say(f"converting to an ML Program ({package_precision}, {target}) through a "
            "TensorFlow graph" + (" of BlockLSTM ops" if any(
                w.trunk == "lstm" for w in getattr(weights, "members", (weights,))) else ""))
        model = build_mlpackage(weights, prep, metrics=run.metrics,
                                options=replace(options, precision=package_precision))

        def check_package(staged):
            say(f"verifying {package_path.name}: its ML Program evaluated op by op in NumPy "
                f"on {len(raw)} windows")
            checks = [verify_mlpackage(staged, raw, expected, classes=prep.classes,
                                       precision=package_precision)]
            if runtime:
                say(f"running {package_path.name} in Core ML on {len(raw)} windows")
                scores, labels = mlpackage_runtime_scores(staged, package_path.name, raw,
                                                          input_name=report.input_name)
                checks.append(replace(
                    compare_scores(package_path.name, scores, expected,
                                   precision=package_precision, evaluated_by="coreml"),
                    label_output_consistent=labels_consistent(scores, labels, prep.classes)))
            return checks

        return attempt("mlpackage", package_path, directory=True,
                       stage=lambda staged: stage_mlpackage(model, staged), check=check_package,
                       precision=package_precision, fall_back=fall_back)

    if not write_package(precision, fall_back=requested == "auto") and report.precision_note:
        report.precision = "fp32"
        write_package("fp32", fall_back=False)

    # 2. the Exermote app's model
    if write_app:
        say(f"building {app_path.name} for the Exermote app (neural network, fp32)")
        spec = build_app_spec(widen_to_app_features(weights, positions))
        describe_app_spec(
            spec, author=author or default_author(), license=license or default_license(),
            version=version or default_version(),
            summary=short_description or describe_purpose(
                prep.classes, prep.features, weights.timesteps, prep.sample_rate_hz)
            + "; drop-in for the Exermote app's " + APP_MODEL_FILE,
            unused_features=report.app_unused_features)
        app_input = app_windows(scaled, positions)

        def check_app(staged):
            say(f"verifying {app_path.name}: its layers evaluated in NumPy on {len(raw)} "
                "windows fed as the app feeds them")
            checks = [verify_app_model(staged, app_input, expected, precision="fp32")]
            if runtime:
                say(f"running {app_path.name} in Core ML on {len(raw)} windows")
                checks.append(compare_scores(
                    app_path.name, app_model_runtime_scores(staged, app_path.name, app_input),
                    expected, precision="fp32", evaluated_by="coreml"))
            return checks

        attempt("app_model", app_path, directory=False,
                stage=lambda staged: save_app_spec(spec, staged), check=check_app)

    # 3. TFLite
    if tflite:
        say(f"converting to {tflite_path.name} (TFLite, builtin ops)")
        flatbuffer = build_tflite(weights, prep.scaler, input_name=report.input_name)

        def check_tflite(staged):
            say(f"verifying {tflite_path.name} with the TFLite interpreter on {len(raw)} windows")
            return [verify_tflite(staged, raw, expected)]

        attempt("tflite", tflite_path, directory=False,
                stage=lambda staged: stage_tflite(flatbuffer, staged), check=check_tflite)

    if report.failures:
        written = [p.name for p in (report.mlpackage, report.app_model, report.tflite) if p]
        error = VerificationError(
            " | ".join(report.failures.values())
            + (f" | written: {', '.join(written)}" if written else " | nothing written"),
            path=run_dir)
        error.report = report
        raise error
    return report
