"""Grids on Ray: the same results as the serial comparison, retries, failures, resumption.

Ray is optional (the ``cluster`` extra), so these tests skip without it.  One local Ray with 2
CPUs serves the whole module and is shut down at its end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from exermote_sgan.errors import ExermoteInputError
from exermote_sgan.experiments import compare as compare_module
from exermote_sgan.experiments.compare import compare, run_name
from exermote_sgan.experiments.grid import GridFailed
from exermote_sgan.experiments.ray_backend import RayOptions, run_tasks

ray = pytest.importorskip("ray")  # the package imports Ray only when a grid runs on it


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_tasks_run_in_parallel_and_a_failure_is_reported_not_fatal(local_ray, tmp_path):
    def square(job):
        if job == 3:
            raise RuntimeError("run 3 diverged")
        return job * job

    seen = {}
    failures = run_tasks(square, range(6), options=RayOptions(workers=2),
                         on_result=lambda job, value: seen.__setitem__(job, value))
    assert seen == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert [(f.job, f.reason) for f in failures] == [(3, "RuntimeError: run 3 diverged")]


def test_a_dead_worker_is_retried(local_ray, tmp_path):
    marker = tmp_path / "died-once"

    def dies_the_first_time(job):
        if not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies, as on a lost node or an OOM kill
        return job + 1

    seen = {}
    failures = run_tasks(dies_the_first_time, [41], options=RayOptions(retries=1),
                         on_result=lambda job, value: seen.__setitem__(job, value))
    assert failures == [] and seen == {41: 42} and marker.exists()
    marker.unlink()
    failures = run_tasks(dies_the_first_time, [1], options=RayOptions(retries=0))
    assert len(failures) == 1 and "WorkerCrashedError" in failures[0].reason


def test_bad_input_in_a_task_comes_back_as_the_input_error(local_ray, tmp_path):
    def refuses(job):
        raise ExermoteInputError("not a windows file", path=f"/data/{job}.h5")

    failures = run_tasks(refuses, ["a"], options=RayOptions())
    assert isinstance(failures[0].input_error, ExermoteInputError)
    assert "/data/a.h5: not a windows file" in str(failures[0].input_error)


@pytest.fixture(scope="module")
def long_windows(tmp_path_factory):
    """Three subjects' windows, 40 timesteps (the generator's smallest layout)."""
    from test_compare import _window_set

    from exermote_sgan.data.windows_file import WindowSet, save_windows

    ws = _window_set(per_class=3)
    long = WindowSet(windows=np.repeat(ws.windows, 5, axis=1), labels=ws.labels,
                     subjects=ws.subjects, sessions=ws.sessions, end_index=ws.end_index + 32,
                     classes=ws.classes, features=ws.features, timesteps=40,
                     session_names=ws.session_names)
    return save_windows(tmp_path_factory.mktemp("ray") / "windows.h5", long)


TINY = {"labeled_unit": "windows", "batch_size": 16, "verbose": 0, "steps_per_epoch": 2,
        "conv_filters": 4, "lstm_units": 4}


@pytest.mark.slow
def test_ray_grid_equals_the_serial_one_and_resumes(local_ray, long_windows, tmp_path):
    """Real training, both models: identical figures on either backend."""
    options = dict(leave_each_subject_out=[3], labeled_fractions=[0.5], seeds=[0],
                   epochs=1, train_options=TINY)
    serial = compare(long_windows, out_dir=tmp_path / "serial", **options)
    on_ray = compare(long_windows, out_dir=tmp_path / "ray", backend="ray",
                     ray_options=RayOptions(workers=2), **options)
    figures = ["test_subjects", "labeled_fraction", "seed", "model", "accuracy", "macro_f1",
               "n_labeled", "labeled_hash"]
    pd.testing.assert_frame_equal(serial[figures], on_ray[figures])
    assert (tmp_path / "ray" / "summary.md").read_text() == \
        (tmp_path / "serial" / "summary.md").read_text()
    for row in on_ray.itertuples():
        metrics = json.loads((tmp_path / "ray" / "runs" / f"test{row.test_subjects}"
                              / run_name(row.model, 0.5, 0) / "metrics.json").read_text())
        assert metrics["accuracy"] == row.accuracy

    # interrupted grid: one run lost its result; only that one is trained again, through the
    # command line connecting to the running cluster by its address
    runs = tmp_path / "ray" / "runs"
    lost = runs / "test3" / run_name("sgan", 0.5, 0)
    (lost / "metrics.json").unlink()
    kept = {p: p.stat().st_mtime_ns for p in runs.rglob("metrics.json")}
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "exermote_sgan", "compare", str(long_windows),
               "--leave-each-subject-out", "3", "--labeled-fractions", "0.5",
               "--seeds", "0", "--epochs", "1", "--out", str(tmp_path / "ray"),
               "--labeled-unit", "windows", "--batch-size", "16", "--steps-per-epoch", "2",
               "--conv-filters", "4", "--lstm-units", "4", "--backend", "ray",
               "--address", address, "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # finished runs untouched
    assert (lost / "metrics.json").is_file()
    again = compare_module.read_results(tmp_path / "ray" / "results.csv")
    pd.testing.assert_frame_equal(again[figures], serial[figures], check_dtype=False)


@pytest.mark.slow
def test_a_run_with_bad_input_stops_only_itself(local_ray, long_windows, tmp_path):
    out = tmp_path / "grid"
    # a file where one run's directory goes: that run fails, the other one finishes
    blocked = out / "runs" / "test2" / run_name("baseline", 0.5, 0)
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")
    with pytest.raises(ExermoteInputError, match="is a file; choose a folder"):
        compare(long_windows, leave_each_subject_out=[2, 3], labeled_fractions=[0.5],
                seeds=[0], epochs=1, models=["baseline"],
                train_options={**TINY, "steps_per_epoch": 1}, out_dir=out, backend="ray",
                ray_options=RayOptions(workers=2))
    results = compare_module.read_results(out / "results.csv")
    assert list(results.test_subjects) == ["3"]  # the finished run is on record


def test_failed_runs_are_listed_with_how_to_retry(tmp_path):
    from pathlib import Path

    from exermote_sgan.experiments.grid import GridRun
    from exermote_sgan.experiments.ray_backend import TaskFailure

    run = GridRun(model="sgan", labeled_fraction=0.05, seed=2, test_subjects=(4,),
                  run_dir=Path("out/runs/test4/sgan-f0.05-s2"), windows_path=Path("w.h5"))
    error = GridFailed([TaskFailure(run, "ResourceExhaustedError: OOM")])
    assert str(error) == ("1 run(s) failed: sgan fraction 0.05 seed 2 test 4 "
                          "(out/runs/test4/sgan-f0.05-s2): ResourceExhaustedError: OOM. The "
                          "finished runs are kept: run the same command again to retry only "
                          "the failed ones.")
