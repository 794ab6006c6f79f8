"""Scans on a real dask.distributed cluster (a LocalCluster of two worker processes): the same
report as a local scan, results streamed to results.jsonl, --resume across runs, and workers that
die mid-scan — nothing lost, nothing reported twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import genaudit
from genaudit import errors as E
from genaudit.registry import _EXTRA, register_check
from tests.conftest import CliRunner
from tests.corpus import encode, photo
from tests.plugins import misbehaving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    import dask
    from dask.distributed import LocalCluster

    # the scheduler retries a dead worker's task once before giving up on it (KilledWorker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=40)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def plugin_checks() -> Iterator[None]:
    for name, cls in (("crashing", "CrashingCheck"), ("diesonce", "DiesOnceCheck")):
        register_check(name, f"tests.plugins.misbehaving:{cls}", "test check")
    yield
    for name in ("crashing", "diesonce"):
        _EXTRA.pop(name, None)


def _folder(root: Path, widths: list[int]) -> Path:
    d = root / "imgs"
    d.mkdir()
    for i, w in enumerate(widths):
        (d / f"{i:02d}_w{w}.png").write_bytes(encode(photo(i, (w, 24)), "PNG"))
    (d / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 truncated")
    return d


def _records(report_dir: Path) -> list[dict[str, Any]]:
    lines = (report_dir / "results.jsonl").read_text().splitlines()
    return [json.loads(line)["record"] for line in lines[1:]]  # the first line is the header


def test_cluster_scan_equals_local_scan(tmp_path: Path, scheduler: str) -> None:
    d = _folder(tmp_path, [30 + i for i in range(23)])
    local = genaudit.scan(d, checks=("metadata", "phash"), jobs=1, report_dir=tmp_path / "local")
    remote = genaudit.scan(d, checks=("metadata", "phash"), batch_size=3, dask_scheduler=scheduler,
                           report_dir=tmp_path / "remote")
    assert [f.to_dict() for f in remote.files] == [f.to_dict() for f in local.files]
    assert remote.summary == local.summary and remote.config == local.config
    assert remote.run.jobs == 2  # the cluster's two worker threads
    recs = _records(tmp_path / "remote")
    assert sorted(r["path"] for r in recs) == sorted(f.path for f in local.files)  # each file once
    on_disk = json.loads((tmp_path / "remote" / "report.json").read_text())
    assert on_disk["summary"] == json.loads((tmp_path / "local" / "report.json").read_text())["summary"]


@pytest.mark.usefixtures("plugin_checks")
def test_a_worker_killed_mid_scan_loses_nothing(tmp_path: Path, scheduler: str) -> None:
    widths = [30, 31, misbehaving.DIE_ONCE_WIDTH, 32, 33, 34, 35, 36, 37, 38]
    d = _folder(tmp_path, widths)
    report = genaudit.scan(d, checks=("diesonce",), batch_size=4, dask_scheduler=scheduler,
                           report_dir=tmp_path / "rep")
    assert list(tmp_path.glob("died-*")), "no worker died: the test did not test anything"
    statuses = [f.status for f in report.files]
    assert statuses == ["ok"] * len(widths) + ["error"]  # the broken PNG is the one error
    assert [f.result("diesonce").data["width"] for f in report.files[:-1]] == widths
    recs = _records(tmp_path / "rep")
    assert len(recs) == len(widths) + 1 and len({r["path"] for r in recs}) == len(recs)


@pytest.mark.usefixtures("plugin_checks")
def test_a_file_that_kills_every_worker_becomes_an_internal_error(tmp_path: Path, scheduler: str) -> None:
    widths = [30, 31, misbehaving.CRASH_WIDTH, 32, 33, 34]
    d = _folder(tmp_path, widths)
    report = genaudit.scan(d, checks=("crashing",), batch_size=3, dask_scheduler=scheduler, report_dir=None)
    assert [f.status for f in report.files] == ["ok", "ok", "error", "ok", "ok", "ok", "error"]
    crashed = report.files[2]
    assert crashed.error is not None and crashed.error.code == E.INTERNAL_ERROR


def test_cli_streams_json_and_resumes_across_runs(tmp_path: Path, scheduler: str, run_cli: CliRunner) -> None:
    d = _folder(tmp_path, [40 + i for i in range(9)])
    rep = tmp_path / "rep"
    first = run_cli("scan", str(d), "--checks", "phash", "--report-dir", str(rep), "--dask-scheduler", scheduler,
                    "--json", "--quiet")
    assert first.returncode == 1  # the broken file is an error
    lines = [json.loads(x) for x in first.stdout.splitlines()]
    assert sorted(x["path"] for x in lines) == sorted(str(p) for p in d.iterdir())
    again = run_cli("scan", str(d), "--checks", "phash", "--report-dir", str(rep), "--dask-scheduler", scheduler,
                    "--resume", "--quiet")
    assert again.returncode == 1
    report = json.loads((rep / "report.json").read_text())
    assert report["run"]["resumed_files"] == 10  # every file, the broken one too, came from the first run
    assert len(_records(rep)) == 10


def test_unreachable_scheduler_is_one_line_exit_2(tmp_path: Path, run_cli: CliRunner) -> None:
    d = _folder(tmp_path, [40])
    r = run_cli("scan", str(d), "--report-dir", str(tmp_path / "rep"), "--dask-scheduler", "tcp://127.0.0.1:9")
    assert r.returncode == 2 and r.stdout == ""
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rep" / "results.jsonl").exists()  # refused before anything was written
