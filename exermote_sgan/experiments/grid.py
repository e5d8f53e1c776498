"""A grid of independent training runs, run one after another or as Ray tasks.

:mod:`exermote_sgan.experiments.compare` plans the grid (models x labeled fractions x seeds x
held-out subjects); this module runs it.  Every run is a :class:`GridRun`: everything
:func:`~exermote_sgan.training.train_lib.train` needs, with its own run directory.  A run whose
``metrics.json`` and ``split.json`` exist is finished and never trained again; a run
interrupted during training continues from its last completed epoch, so a grid
that was stopped, or whose machine died, resumes where it was on either backend.

``serial`` trains in this process, one run at a time (an error stops the grid, as before).
``ray`` submits each unfinished run as a Ray task (see :mod:`.ray_backend`), each declaring
its CPUs and GPUs; a task whose worker died is retried, a run that raised is reported and the
others go on.  The runs are deterministic (seeded, ``enable_op_determinism``), so both
backends give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExermoteInputError


BACKENDS = ("serial", "ray")
#: the model name of the reference random forest (:mod:`.forest`), trained like a baseline's
#: windows but without Keras
FOREST = "forest"


@dataclass(frozen=True)
class GridRun:
    """One training run of a grid: the settings that vary, the ones shared, and where it goes."""

    model: str
    labeled_fraction: float
    seed: int
    test_subjects: tuple[int, ...]
    run_dir: Path
    windows_path: Path
    epochs: int | None = None
    train_options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def label(self) -> str:
        held = "+".join(map(str, self.test_subjects))
        return f"{self.model} fraction {self.labeled_fraction:g} seed {self.seed} test {held}"


class GridFailed(RuntimeError):
    """Some runs of a grid failed; the others finished and were written."""

    def __init__(self, failures):
        self.failures = list(failures)
        lines = [f"{failure.job.label} ({failure.job.run_dir}): {failure.reason}"
                 for failure in self.failures]
        super().__init__(
            f"{len(lines)} run(s) failed: " + "; ".join(lines) + ". The finished runs are "
            "kept: run the same command again to retry only the failed ones.")


def finished(run_dir) -> bool:
    """A run is done when ``train`` wrote both ``metrics.json`` and (after it) ``split.json``
    (:func:`exermote_sgan.runs.finished`)."""
    from ..runs import finished as run_finished

    return run_finished(run_dir)


def train_run(run: GridRun) -> str:
    """Train ``run`` (continuing it if it was interrupted); return its run directory.

    A ``forest`` run trains the reference forest (:func:`~.forest.train_forest`).  This is the
    body of one Ray task as well as one step of the serial loop.
    """
    from ..training import train_lib

    forest = run.model == FOREST
    interrupted = not forest and train_lib.can_resume(run.run_dir)
    # the forest takes the windows a baseline of the same settings would get
    config = train_lib.TrainConfig(
        windows_path=Path(run.windows_path), model="baseline" if forest else run.model,
        out_dir=Path(run.run_dir), test_subjects=tuple(run.test_subjects),
        labeled_fraction=float(run.labeled_fraction),
        epochs=None if run.epochs is None else int(run.epochs), seed=int(run.seed),
        resume=interrupted, **run.train_options)
    if forest:
        from .forest import train_forest

        train_forest(config)
    else:
        train_lib.train(config)
    return str(run.run_dir)


def _ray_task(run: GridRun) -> str:
    """:func:`train_run` in a Ray worker, which is reused for later tasks: free the models."""
    import keras

    try:
        return train_run(run)
    finally:
        keras.backend.clear_session()


def run_grid(runs, *, backend: str = "serial", ray_options=None, on_finished=None,
             progress: bool = False, description: str = "grid") -> list:
    """Train every unfinished run of ``runs``; call ``on_finished(run)`` as each is done.

    Finished runs are skipped (and ``on_finished`` is called for them first).  With
    ``backend="ray"`` and ``ray_options`` (:class:`~.ray_backend.RayOptions`) the runs are Ray
    tasks; runs that failed raise :class:`GridFailed` after all others finished, or the run's
    own :class:`ExermoteInputError` when bad input made every failure.  Returns the runs
    trained now.
    """
    from tqdm.auto import tqdm

    if backend not in BACKENDS:
        raise ExermoteInputError(f"must be one of {', '.join(BACKENDS)}, got {backend!r}",
                                 option="backend")
    runs = list(runs)
    todo = [run for run in runs if not finished(run.run_dir)]
    for run in runs:
        if run not in todo and on_finished is not None:
            on_finished(run)
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), desc=description, unit="run",
               disable=not progress)
    try:
        if backend == "serial":
            for run in todo:
                train_run(run)
                bar.update(1)
                if on_finished is not None:
                    on_finished(run)
            return todo
        return _run_on_ray(todo, ray_options, on_finished, bar)
    finally:
        bar.close()


def _run_on_ray(todo, ray_options, on_finished, bar):
    from .ray_backend import RayOptions, run_tasks

    ray_options = ray_options or RayOptions()
    ray_options.validate()
    if not todo:
        return todo

    def done(run, run_dir):
        if not finished(run_dir):
            raise ExermoteInputError(
                f"the Ray task of {run.label} finished, but its metrics.json/split.json are not "
                "visible here: on a cluster the output directory must be on a filesystem "
                "every node shares (NFS, a mounted bucket), at the same path",
                path=run_dir, option="out")
        if on_finished is not None:
            on_finished(run)

    # longest first: an SGAN step costs 3-4 baseline steps, so starting the SGAN runs first
    # keeps a lone SGAN run from trailing at the end of the grid (the results keep the plan's
    # order whatever the order the runs finish in)
    queue = sorted(todo, key=lambda run: run.model != "sgan")
    failures = run_tasks(_ray_task, queue, options=ray_options, on_result=done, progress=bar)
    if failures:
        if all(f.input_error is not None for f in failures):
            raise failures[0].input_error
        raise GridFailed(failures)
    return todo
