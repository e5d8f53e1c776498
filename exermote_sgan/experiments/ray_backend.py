"""Run independent jobs as Ray tasks: on this machine with N workers, or on an existing cluster.

Ray core rather than Ray Tune: a grid of training runs is a fixed list of independent
function calls whose results already live in run directories, with their own resumption
(finished runs are skipped, an interrupted run continues from its last epoch).  Tune would add
a second experiment directory, its own trial checkpoints and search machinery that a fixed grid
does not use, and a heavier install; Ray core's tasks give what the grid needs: a resource
request per task (``num_cpus``, ``num_gpus``), retries of tasks whose worker process or node
died (``max_retries``), and scheduling on any cluster Ray can reach.

Ray is an optional dependency (``pip install "exermote_sgan[cluster]"``): it is imported only
here, only when a grid runs on Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._quiet import QUIET_ENV
from ..errors import ExermoteInputError


@dataclass(frozen=True)
class RayOptions:
    """Where and how the tasks run.

    ``address``: an existing cluster (``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:10001"``);
    ``None`` starts a private Ray on this machine with ``workers * cpus_per_run`` CPUs and
    stops it afterwards.  ``workers``: at most this many tasks at once (``None``: as many as the
    resources allow; on this machine then one per CPU).  ``cpus_per_run``, ``gpus_per_run``:
    the resources each task declares, so Ray never runs more tasks on a node than it has
    CPUs/GPUs for, and TensorFlow in each task uses ``cpus_per_run`` threads.  ``retries``:
    how often a task whose worker died is started again.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    retries: int = 2

    def validate(self) -> None:
        if self.workers is not None and int(self.workers) < 1:
            raise ExermoteInputError(f"must be at least 1, got {self.workers}", option="workers")
        if not float(self.cpus_per_run) > 0:
            raise ExermoteInputError(f"must be positive, got {self.cpus_per_run}",
                                     option="cpus_per_run")
        if float(self.gpus_per_run) < 0:
            raise ExermoteInputError(f"must be >= 0, got {self.gpus_per_run}",
                                     option="gpus_per_run")
        if int(self.retries) < 0:
            raise ExermoteInputError(f"must be >= 0, got {self.retries}", option="retries")

    @property
    def threads(self) -> int:
        """TensorFlow threads per task: the CPUs it declared, at least one."""
        return max(1, int(self.cpus_per_run))


@dataclass
class TaskFailure:
    """A task that did not finish: the job it ran and why (one line)."""

    job: object
    reason: str
    input_error: Exception | None = field(default=None, repr=False)


def import_ray():
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ExermoteInputError(
            "Ray is not installed; install the cluster extra (pip install "
            "'exermote_sgan[cluster]') or use --backend serial", option="backend") from None
    return ray


def _init(ray, options: RayOptions) -> bool:
    """Connect to (or start) Ray; True when this call started it and must shut it down."""
    if ray.is_initialized():  # a caller (a notebook, a test) already set Ray up: use it
        return False
    if options.address is None:
        workers = int(options.workers) if options.workers else None
        num_cpus = None if workers is None else max(1, round(workers * options.cpus_per_run))
        gpus = None
        if options.gpus_per_run and workers:
            gpus = max(1, round(workers * options.gpus_per_run))
        ray.init(num_cpus=num_cpus, num_gpus=gpus, include_dashboard=False,
                 log_to_driver=False)
    else:
        try:
            ray.init(address=options.address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ExermoteInputError(
                f"cannot connect to the Ray cluster at {options.address!r} ({exc}); start it "
                "with 'ray start --head' (or give --address auto on one of its nodes)",
                option="address") from None
    return True


def _reason(exc) -> str:
    """One line: the exception the task raised (its type and message), or Ray's own error."""
    cause = getattr(exc, "cause", None)
    shown = cause if isinstance(cause, BaseException) else exc
    text = str(shown).strip().splitlines()
    message = text[-1] if text else ""
    return f"{type(shown).__name__}: {message}" if message else type(shown).__name__


def run_tasks(function, jobs, *, options: RayOptions, on_result=None, progress=None):
    """Run ``function(job)`` for every job as a Ray task; return the failures.

    ``on_result(job, value)`` is called in the driver as each task finishes, in the order they
    finish.  A task whose worker process or node dies is retried ``options.retries`` times by
    Ray; an exception raised by ``function`` is not retried (training is deterministic, so it
    would fail again) but reported: the other tasks go on, and the failures come back as
    :class:`TaskFailure` items.  ``progress`` (a tqdm bar) is advanced per finished task.
    Interrupting (Ctrl-C) cancels the tasks still running.
    """
    options.validate()
    ray = import_ray()
    started = _init(ray, options)
    runtime_env = {"env_vars": {"TF_NUM_INTRAOP_THREADS": str(options.threads),
                                "TF_NUM_INTEROP_THREADS": str(options.threads),
                                "OMP_NUM_THREADS": str(options.threads), **QUIET_ENV}}
    remote = ray.remote(function).options(
        num_cpus=float(options.cpus_per_run), num_gpus=float(options.gpus_per_run),
        max_retries=int(options.retries), retry_exceptions=False, runtime_env=runtime_env)
    queue = list(jobs)
    limit = int(options.workers) if options.workers else len(queue)
    pending: dict = {}
    failures: list[TaskFailure] = []
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                job = queue.pop(0)
                pending[remote.remote(job)] = job
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the function raised
                    cause = getattr(exc, "cause", None)
                    failures.append(TaskFailure(
                        job, _reason(exc),
                        cause if isinstance(cause, ExermoteInputError) else None))
                except ray.exceptions.RayError as exc:  # worker or node lost, retries spent
                    failures.append(TaskFailure(job, _reason(exc)))
                else:
                    if on_result is not None:
                        on_result(job, value)
                if progress is not None:
                    progress.update(1)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
    return failures
