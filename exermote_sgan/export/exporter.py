"""Export a run directory's classifier to Core ML and prove the files compute what Keras does.

:func:`export_run` writes ``NAME.mlpackage`` (raw input, scaler inside, classifier outputs) and,
when the model's shape fits the public Exermote app, ``NAME.mlmodel`` (the app's interface, on
scaled input, reading the app's 12 features even when the classifier uses fewer), optionally
``NAME.tflite``; each file is read back, evaluated in NumPy (or the TFLite interpreter) on real
test windows and compared with the Keras classifier.  If any file fails its check, none is
written and the export raises.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..atomic import atomic_output, ensure_writable_dir
from ..errors import ExermoteInputError
from .coreml_package import PRECISIONS, PackageOptions
from .verify import Verification, VerificationError

__all__ = ["ExportReport", "export_run", "APP_MODEL_CHOICES"]

APP_MODEL_CHOICES = ("auto", "yes", "no")


@dataclass
class ExportReport:
    """What :func:`export_run` wrote and how each file compared with the Keras classifier."""

    run_dir: Path
    precision: str
    windows_source: str
    mlpackage: Path | None = None
    mlpackage_check: Verification | None = None
    app_model: Path | None = None
    app_model_check: Verification | None = None
    app_model_skipped: list[str] = field(default_factory=list)
    app_unused_features: list[str] = field(default_factory=list)
    tflite: Path | None = None
    tflite_check: Verification | None = None
    scaling_coefficients: tuple[list[float], list[float]] | None = None
    swift_scaling: str = ""

    def to_dict(self) -> dict:
        return {
            "run_dir": str(self.run_dir), "precision": self.precision,
            "windows_source": self.windows_source,
            "mlpackage": str(self.mlpackage) if self.mlpackage else None,
            "mlpackage_check": self.mlpackage_check.to_dict() if self.mlpackage_check else None,
            "app_model": str(self.app_model) if self.app_model else None,
            "app_model_check": self.app_model_check.to_dict() if self.app_model_check else None,
            "app_model_skipped": list(self.app_model_skipped),
            "app_unused_features": list(self.app_unused_features),
            "tflite": str(self.tflite) if self.tflite else None,
            "tflite_check": self.tflite_check.to_dict() if self.tflite_check else None,
            "scaling_coefficients": ({"multiply": self.scaling_coefficients[0],
                                      "add": self.scaling_coefficients[1]}
                                     if self.scaling_coefficients else None),
        }


def _output_paths(out) -> tuple[Path, Path, Path]:
    out = Path(out)
    if out.suffix in (".mlpackage", ".mlmodel", ".tflite"):
        out = out.with_suffix("")
    if not out.name:
        raise ExermoteInputError("output name is empty", path=out)
    return tuple(out.with_name(out.name + ext) for ext in (".mlpackage", ".mlmodel", ".tflite"))


def export_run(run_dir, out, *, precision: str = "fp16", target: str = "iOS15",
               flexible_batch: bool = False, app_model: str = "auto", windows=None,
               max_windows: int = 2000, author: str = "", license: str = "",
               short_description: str = "", version: str = "",
               tflite: bool = False) -> ExportReport:
    """Export ``run_dir``'s classifier to ``out.mlpackage`` (and ``out.mlmodel``), verified.

    ``app_model``: ``"auto"`` writes the Exermote app model when the classifier fits the app,
    ``"yes"`` requires it (error if it does not fit), ``"no"`` skips it.  ``windows`` overrides
    the run's windows file for verification.  ``tflite=True`` also writes ``out.tflite``, run
    with the TFLite interpreter.  Raises :class:`ExermoteInputError` for bad input
    and :class:`~exermote_sgan.export.verify.VerificationError` when an exported file does not
    match the Keras classifier; then no file is written.
    """
    from ..runs import CLASSIFIER_FILE, load_run
    from .app_model import (app_feature_positions, app_model_problems, app_scaling_coefficients,
                            app_windows, build_app_spec, save_app_spec, swift_scaling_constant,
                            unused_app_features, widen_to_app_features)
    from .coreml_package import build_mlpackage, stage_mlpackage
    from .mil_evaluator import UnsupportedOpError
    from .tflite import build_tflite, stage_tflite
    from .verify import (keras_scores, select_verification_windows, verify_app_model,
                         verify_mlpackage, verify_tflite)
    from .weights import extract_weights

    if precision not in PRECISIONS:
        raise ExermoteInputError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                                 f"{precision!r}")
    if app_model not in APP_MODEL_CHOICES:
        raise ExermoteInputError(f"app_model must be one of {', '.join(APP_MODEL_CHOICES)}, "
                                 f"got {app_model!r}")
    try:
        options = PackageOptions(precision=precision, target=target,
                                 flexible_batch=bool(flexible_batch), author=author,
                                 license=license, short_description=short_description,
                                 version=version)
    except ValueError as exc:
        raise ExermoteInputError(str(exc)) from None
    package_path, app_path, tflite_path = _output_paths(out)
    ensure_writable_dir(package_path.parent)

    run = load_run(run_dir)
    prep = run.preprocessing
    weights = extract_weights(run.classifier, path=Path(run_dir) / CLASSIFIER_FILE)
    problems = app_model_problems(weights, prep) if app_model != "no" else []
    if app_model == "yes" and problems:
        raise ExermoteInputError("cannot write the Exermote app model: " + "; ".join(problems),
                                 path=run_dir)
    raw, source = select_verification_windows(prep, windows_path=windows,
                                              max_windows=max_windows)
    scaled = prep.scaler.transform(raw)
    expected = keras_scores(run.classifier, scaled)

    write_app = app_model != "no" and not problems
    # the app feeds its 12 features; coefficients are given in its order when the model fits
    positions = app_feature_positions(prep.features) if write_app else None
    report = ExportReport(Path(run_dir), precision, source,
                          scaling_coefficients=app_scaling_coefficients(prep.scaler, positions),
                          swift_scaling=swift_scaling_constant(prep.scaler, positions))
    if app_model == "no":
        report.app_model_skipped = ["not requested"]
    elif problems:
        report.app_model_skipped = problems
    else:
        report.app_unused_features = unused_app_features(positions)
    model = build_mlpackage(weights, prep, metrics=run.metrics, options=options)
    # Every file is staged, read back and verified before any replaces anything: a failed
    # check leaves no output (and any earlier export of the same name) behind.
    with contextlib.ExitStack() as staging:
        staged = staging.enter_context(atomic_output(package_path, directory=True))
        stage_mlpackage(model, staged)
        try:
            check = verify_mlpackage(staged, raw, expected, classes=prep.classes,
                                     precision=precision)
        except UnsupportedOpError as exc:
            raise VerificationError(f"cannot verify the export, nothing written: {exc}",
                                    path=package_path) from None
        report.mlpackage_check = _checked(check, package_path, precision=precision)
        if write_app:
            ignored = (f"; ignores {', '.join(report.app_unused_features)} (scaling "
                       f"coefficients 0)" if report.app_unused_features else "")
            spec = build_app_spec(widen_to_app_features(weights, positions), description=(
                model.short_description + "; SCALED input: multiply by scaler_scale, then "
                "add scaler_offset, per feature" + ignored))
            staged = staging.enter_context(atomic_output(app_path))
            save_app_spec(spec, staged)
            report.app_model_check = _checked(
                verify_app_model(staged, app_windows(scaled, positions), expected,
                                 precision="fp32"), app_path, precision="fp32")
        if tflite:
            staged = staging.enter_context(atomic_output(tflite_path))
            stage_tflite(build_tflite(weights, prep.scaler), staged)
            report.tflite_check = _checked(verify_tflite(staged, raw, expected), tflite_path,
                                           precision="fp32")
    report.mlpackage = package_path
    report.app_model = app_path if write_app else None
    report.tflite = tflite_path if tflite else None
    return report


def _checked(check: Verification, destination: Path, *, precision: str) -> Verification:
    """``check`` under the destination's name; raise :class:`VerificationError` if it failed."""
    check = replace(check, artifact=destination.name)
    if not check.passed:
        hint = ""
        if precision == "fp16" and check.max_abs_diff <= check.tolerance:
            hint = (" (only labels differ, where FP16 rounding flips near-ties: use "
                    "--precision fp32 or verify on more windows)")
        raise VerificationError(f"the export does not compute what the classifier computes, "
                                f"nothing written: {check.summary()}{hint}", path=destination)
    return check
