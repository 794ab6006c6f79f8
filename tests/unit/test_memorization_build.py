"""Index builds: on a real Dask cluster the index equals the in-process build, chunk for chunk."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

from genaudit.memorization.build import build_index
from genaudit.samples import photo_crops

FAMILIES = ("phash", "dhash")


def write_sources(root: Path) -> list[str]:
    folder = root / "photos"
    folder.mkdir()
    for i, (_, im) in enumerate(photo_crops(64, 7, seed=13)):
        Image.fromarray(im).save(folder / f"p{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    rows = np.random.default_rng(1).integers(0, 256, (9, 28, 28), dtype=np.uint8)
    idx = root / "extra-images-idx3-ubyte"
    idx.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", *rows.shape) + rows.tobytes())
    return [str(folder), str(idx)]


def idx_files_read_here() -> list[str]:
    """Run on a worker: the IDX files that ``hash_chunk`` read in this (freshly spawned) process."""
    from genaudit.memorization import build

    return sorted(build._IDX_CACHE)


def test_dask_build_equals_in_process_build(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    sources = write_sources(tmp_path)
    local, local_report = build_index(sources, families=FAMILIES, jobs=1, chunk_size=3)
    assert local_report.scheduler == "local" and len(local) == 16 and len(local_report.errors) == 1
    seen: list[tuple[int, int]] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        index, report = build_index(sources, families=FAMILIES, scheduler=cluster.scheduler_address, chunk_size=3,
                                    progress=lambda done, total: seen.append((done, total)))
        with Client(cluster) as client:
            read = client.run(idx_files_read_here)
        assert len(read) == 2 and [sources[1]] in read.values()   # the IDX chunks were hashed on the workers
    assert report.scheduler == cluster.scheduler_address
    assert index.sources == local.sources                 # same ids for the same items, in source order
    for f in FAMILIES:
        assert np.array_equal(index.indexes[f].codes, local.indexes[f].codes), f
    assert report.added == local_report.added == 16
    # (path, code): the loader's message names a buffer's address, which differs between processes
    assert [e[:2] for e in report.errors] == [e[:2] for e in local_report.errors]
    assert report.errors[0][0].endswith("broken.png") and report.errors[0][1] == "truncated"
    assert seen[-1] == (17, 17) and len(seen) == 6        # 6 chunks of at most 3 items, every one reported
