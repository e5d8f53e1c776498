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

import numbers
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .._quiet import quiet_converter_logs
from ..atomic import (atomic_output, check_output_file, check_replaceable_dir,
                      ensure_writable_dir)
from ..errors import ExermoteInputError
from .coreml_package import PRECISIONS, PackageOptions
from .verify import Verification, VerificationError


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
    say = progress or (lambda message: None)
    with quiet_converter_logs():
        options = _checked_options(precision=precision, target=target,
                                   flexible_batch=flexible_batch, app_model=app_model,
                                   app_model_name=app_model_name,
                                   metadata={"author": author, "license": license,
                                             "short_description": short_description,
                                             "version": version})
        run_dir, (package_path, app_path, tflite_path) = _check_paths(
            run_dir, out, app_model_name=app_model_name, app_model=app_model, tflite=tflite,
            windows=windows, max_windows=max_windows)
        export = _Export(run_dir, options=options, app_model=app_model, windows=windows,
                         max_windows=max_windows, say=say)
        # 1. the ML Program: FP16 first under "auto", FP32 when FP16 failed by rounding alone
        if (not export.write_package(package_path, options.precision,
                                     fall_back=precision == "auto")
                and export.report.precision_note):
            export.report.precision = "fp32"
            export.write_package(package_path, "fp32", fall_back=False)
        # 2. the Exermote app's model, 3. TFLite
        if export.write_app:
            export.write_app_model(app_path)
        if tflite:
            export.write_tflite(tflite_path)
        return export.finish()


def _checked_options(*, precision, target, flexible_batch, app_model, app_model_name,
                     metadata: dict) -> PackageOptions:
    """The export's options, checked (:class:`ExermoteInputError` naming the option); the
    ML Program's first precision is FP16 under ``"auto"``."""
    if precision not in EXPORT_PRECISIONS:
        raise ExermoteInputError(f"precision must be one of {', '.join(EXPORT_PRECISIONS)}, "
                                 f"got {precision!r}", option="precision")
    if app_model not in APP_MODEL_CHOICES:
        raise ExermoteInputError(f"app_model must be one of {', '.join(APP_MODEL_CHOICES)}, "
                                 f"got {app_model!r}", option="app_model")
    if not app_model_name or Path(app_model_name).name != app_model_name or not (
            app_model_name[0].isalpha() and app_model_name.replace("_", "").isalnum()):
        raise ExermoteInputError(f"the app model name must be a Swift class name such as "
                                 f"Exermote (letters, digits, _), got {app_model_name!r}",
                                 option="app_model_name")
    try:
        return PackageOptions(precision="fp16" if precision == "auto" else precision,
                              target=target, flexible_batch=bool(flexible_batch), **metadata)
    except ValueError as exc:
        raise ExermoteInputError(str(exc)) from None


class _Export:
    """One export: the run, its verification windows with the Keras classifier's scores on
    them, and the report; each file is written by one method, on its own merits."""

    def __init__(self, run_dir, *, options: PackageOptions, app_model: str, windows,
                 max_windows: int, say: Callable[[str], None]):
        from ..runs import CLASSIFIER_FILE, load_run, with_classifier
        from .app_model import app_feature_positions, app_model_problems
        from .verify import keras_scores, select_verification_windows
        from .weights import extract_weights

        self.run_dir, self.options, self.say = run_dir, options, say
        header = load_run(run_dir, load_classifier=False)  # a wrong path: said before Keras
        say(f"loading the run {run_dir} (TensorFlow and Keras)")
        self.run = with_classifier(header)
        self.prep = prep = self.run.preprocessing
        self.weights = extract_weights(self.run.classifier, path=Path(run_dir) / CLASSIFIER_FILE)
        problems = app_model_problems(self.weights, prep) if app_model != "no" else []
        if app_model == "yes" and problems:
            raise ExermoteInputError("cannot write the Exermote app model: "
                                     + "; ".join(problems) + " (use --app-model auto or no)",
                                     path=run_dir)
        self.raw, source = select_verification_windows(prep, windows_path=windows,
                                                       max_windows=max_windows, run_dir=run_dir)
        say(f"computing the Keras classifier's scores on {len(self.raw)} verification windows "
            f"({source})")
        self.scaled = prep.scaler.transform(self.raw)
        self.expected = keras_scores(self.run.classifier, self.scaled)
        self.write_app = app_model != "no" and not problems
        # the app feeds its 12 features; coefficients are given in its order when the model fits
        self.positions = app_feature_positions(prep.features) if self.write_app else None
        self.report = self._new_report(run_dir, source, app_model, problems)

    def _new_report(self, run_dir, source: str, app_model: str, problems) -> ExportReport:
        """The report before any file: scaling for the app, why there is no app model, and
        whether Core ML runs here (``self.runtime``)."""
        from .app_model import (app_scaling_coefficients, swift_scaling_constant,
                                unused_app_features)
        from .naming import input_name
        from .runtime import coreml_runtime_status

        scaler = self.prep.scaler
        report = ExportReport(Path(run_dir), self.options.precision, source,
                              scaling_coefficients=app_scaling_coefficients(scaler,
                                                                            self.positions),
                              swift_scaling=swift_scaling_constant(scaler, self.positions),
                              input_name=input_name(self.prep.features))
        if app_model == "no":
            report.app_model_skipped = ["not requested"]
        elif problems:
            report.app_model_skipped = problems
        else:
            report.app_unused_features = unused_app_features(self.positions)
        self.runtime, report.runtime_note = coreml_runtime_status()
        if report.runtime_note:
            self.say(f"Core ML runtime not used: {report.runtime_note}")
        return report

    def _attempt(self, kind: str, destination: Path, *, directory: bool, stage, check,
                 precision: str | None = None, fall_back: bool = False) -> bool:
        """Write one file if it passes; ``fall_back``: an FP16 ML Program that fails only by
        rounding is left for an FP32 attempt instead of being reported."""
        precision = precision or self.options.precision
        report, say = self.report, self.say
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

    def write_package(self, package_path: Path, precision: str, *, fall_back: bool) -> bool:
        """The ML Program at ``precision``, through a TensorFlow graph of the weights."""
        from .coreml_package import build_mlpackage, stage_mlpackage

        members = getattr(self.weights, "members", (self.weights,))
        self.say(f"converting to an ML Program ({precision}, {self.options.target}) through a "
                 "TensorFlow graph" + (" of BlockLSTM ops" if any(
                     w.trunk == "lstm" for w in members) else ""))
        model = build_mlpackage(self.weights, self.prep, metrics=self.run.metrics,
                                options=replace(self.options, precision=precision))
        return self._attempt("mlpackage", package_path, directory=True,
                             stage=lambda staged: stage_mlpackage(model, staged),
                             check=lambda staged: self._check_package(staged, package_path.name,
                                                                      precision),
                             precision=precision, fall_back=fall_back)

    def _check_package(self, staged, name: str, precision: str) -> list[Verification]:
        from .runtime import mlpackage_runtime_scores
        from .verify import compare_scores, labels_consistent, verify_mlpackage

        raw, expected, classes = self.raw, self.expected, self.prep.classes
        self.say(f"verifying {name}: its ML Program evaluated op by op in NumPy on {len(raw)} "
                 "windows")
        checks = [verify_mlpackage(staged, raw, expected, classes=classes, precision=precision)]
        if self.runtime:
            self.say(f"running {name} in Core ML on {len(raw)} windows")
            scores, labels = mlpackage_runtime_scores(staged, name, raw,
                                                      input_name=self.report.input_name)
            checks.append(replace(
                compare_scores(name, scores, expected, precision=precision,
                               evaluated_by="coreml"),
                label_output_consistent=labels_consistent(scores, labels, classes)))
        return checks

    def write_app_model(self, app_path: Path) -> bool:
        """The Exermote app's neural network (FP32), fed the app's scaled 12 features."""
        from .app_model import (APP_MODEL_FILE, app_windows, build_app_spec,
                                describe_app_spec, save_app_spec, widen_to_app_features)
        from .coreml_package import default_author, default_license, default_version
        from .naming import describe_purpose

        options, prep, weights = self.options, self.prep, self.weights
        self.say(f"building {app_path.name} for the Exermote app (neural network, fp32)")
        spec = build_app_spec(widen_to_app_features(weights, self.positions))
        describe_app_spec(
            spec, author=options.author or default_author(),
            licence=options.license or default_license(),
            version=options.version or default_version(),
            summary=options.short_description or describe_purpose(
                prep.classes, prep.features, weights.timesteps, prep.sample_rate_hz)
            + "; drop-in for the Exermote app's " + APP_MODEL_FILE,
            unused_features=self.report.app_unused_features)
        app_input = app_windows(self.scaled, self.positions)
        return self._attempt("app_model", app_path, directory=False,
                             stage=lambda staged: save_app_spec(spec, staged),
                             check=lambda staged: self._check_app(staged, app_path.name,
                                                                  app_input))

    def _check_app(self, staged, name: str, app_input) -> list[Verification]:
        from .runtime import app_model_runtime_scores
        from .verify import compare_scores, verify_app_model

        self.say(f"verifying {name}: its layers evaluated in NumPy on {len(self.raw)} "
                 "windows fed as the app feeds them")
        checks = [verify_app_model(staged, app_input, self.expected, precision="fp32")]
        if self.runtime:
            self.say(f"running {name} in Core ML on {len(self.raw)} windows")
            checks.append(compare_scores(
                name, app_model_runtime_scores(staged, name, app_input),
                self.expected, precision="fp32", evaluated_by="coreml"))
        return checks

    def write_tflite(self, tflite_path: Path) -> bool:
        """The TFLite flatbuffer (builtin ops), checked with the TFLite interpreter."""
        from .tflite import build_tflite, stage_tflite
        from .verify import verify_tflite

        self.say(f"converting to {tflite_path.name} (TFLite, builtin ops)")
        flatbuffer = build_tflite(self.weights, self.prep.scaler,
                                  input_name=self.report.input_name)

        def check_tflite(staged):
            self.say(f"verifying {tflite_path.name} with the TFLite interpreter on "
                     f"{len(self.raw)} windows")
            return [verify_tflite(staged, self.raw, self.expected)]

        return self._attempt("tflite", tflite_path, directory=False,
                             stage=lambda staged: stage_tflite(flatbuffer, staged),
                             check=check_tflite)

    def finish(self) -> ExportReport:
        """The report, or :class:`VerificationError` (carrying it) when a file failed."""
        report = self.report
        if report.failures:
            written = [p.name for p in (report.mlpackage, report.app_model, report.tflite) if p]
            error = VerificationError(
                " | ".join(report.failures.values())
                + (f" | written: {', '.join(written)}" if written else " | nothing written"),
                path=self.run_dir)
            error.report = report
            raise error
        return report
