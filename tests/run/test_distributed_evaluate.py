"""``evaluate`` across processes: under ``torchrun`` (the CLI) and inside a process group (the API), each rank
extracts its shard, rank 0 alone writes, and every value equals one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from gloo_ranks import free_port
from PIL import Image

from ganprobe.data.sources import chunk_seed, generator_batches
from ganprobe.features.sharded import batch_shard

EXTRACTOR = "random-resnet18"


def png_folder(path: Path, count: int, seed: int, bad: int | None = None) -> Path:
    path.mkdir()
    rng = np.random.default_rng(seed)
    for index in range(count):
        image = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(image).save(path / f"{index:03d}.png")
    if bad is not None:
        (path / f"{bad:03d}.png").write_bytes(b"not a png")
    return path


def test_batch_shards_tile_the_rows_in_whole_batches() -> None:
    for rows in (0, 1, 7, 8, 9, 50):
        for world in (1, 2, 3, 5):
            shards = [batch_shard(rows, 8, rank, world) for rank in range(world)]
            assert shards[0][0] == 0 and shards[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(shards, shards[1:], strict=False))
            assert all(start % 8 == 0 for start, stop in shards if stop > start)


def test_generator_ranges_equal_the_whole_stream() -> None:
    def generate(n: int) -> torch.Tensor:
        return torch.rand(n, 3, 2, 2)

    whole = torch.cat(list(generator_batches(generate, 10, 150, seed=3)))
    torch.manual_seed(3)
    assert torch.equal(generate(64), whole[:64])  # the first chunk: under torch.manual_seed(seed), as documented
    assert chunk_seed(3, 1) != chunk_seed(4, 1) and chunk_seed(3, 1) != chunk_seed(3, 2)
    for start, stop in ((0, 16), (16, 96), (60, 70), (128, 150)):
        part = list(generator_batches(generate, 8, 150, 3, start, stop))
        assert torch.equal(torch.cat(part), whole[start:stop])
        assert all(batch.shape[0] == 8 for batch in part[:-1])


def _values(report: dict[str, Any]) -> dict[str, float]:
    return {metric["key"]: metric["value"] for metric in report["metrics"]}


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganprobe"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(command + args, capture_output=True, text=True, cwd=cwd, env=environment, timeout=600)


def test_torchrun_cli_equals_one_process(tmp_path: Path) -> None:
    fake, real = png_folder(tmp_path / "fake", 29, 1), png_folder(tmp_path / "real", 27, 2)
    common = ["--extractor", EXTRACTOR, "--batch-size", "4", "--quiet", "--set", "kid.subset_size=10"]
    single = tmp_path / "single.json"
    from ganprobe.front_ends.cli import main

    torch.set_num_threads(1)  # as each torchrun process runs (OMP_NUM_THREADS=1)
    try:
        assert main(["evaluate", str(fake), str(real), *common, "--no-cache", "--json", str(single)]) == 0
    finally:
        torch.set_num_threads(2)
    shared = tmp_path / "two.json"
    cache = tmp_path / "cache"
    run = _torchrun(["evaluate", str(fake), str(real), *common, "--cache-dir", str(cache), "--json", str(shared),
                     "--html", str(tmp_path / "two.html")], tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    one, two = json.loads(single.read_text()), json.loads(shared.read_text())
    assert _values(two) == _values(one)  # exactly: the same batches, the same rows, the same order
    assert two["layer_separability"] == one["layer_separability"]
    assert two["memorization_pairs"] == one["memorization_pairs"]
    assert two["processes"]["world_size"] == 2 and one["processes"]["world_size"] == 1
    assert two["processes"]["extracted"] == {"fake": [16, 13], "real": [16, 11]}  # whole batches of 4
    assert run.stdout.count("In short") == 1  # rank 0 alone prints the tables
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["single.json", "two.html", "two.json"]
    # Rank 0 stored the features: a second run is served by the cache on both ranks, with the same values.
    again = _torchrun(["evaluate", str(fake), str(real), *common, "--cache-dir", str(cache), "--json", str(shared)],
                      tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    cached = json.loads(shared.read_text())
    assert cached["processes"]["extracted"] == {"fake": [0, 0], "real": [0, 0]}
    assert _values(cached) == _values(one)


def test_torchrun_error_on_one_rank_stops_every_rank_with_one_line(tmp_path: Path) -> None:
    fake = png_folder(tmp_path / "fake", 12, 1, bad=10)  # file 10 lies in rank 1's shard (batches of 4: 8-11)
    real = png_folder(tmp_path / "real", 12, 2)
    run = _torchrun(["evaluate", str(fake), str(real), "--extractor", EXTRACTOR, "--batch-size", "4", "--quiet",
                     "--no-cache", "--metrics", "fid"], tmp_path)  # fmt: skip
    errors = [line for line in run.stderr.splitlines() if "ganprobe evaluate: error:" in line]
    assert run.returncode != 0
    assert len(errors) == 1 and "010.png" in errors[0] and "cannot decode" in errors[0], run.stderr[-2000:]


def _api_worker(rank: int, port: int, queue: Any, sources: dict[str, Any]) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        results = _api_results(sources)
        from ganprobe.errors import ImageFolderError
        from ganprobe.run.pipeline import evaluate

        mine = sources["mismatch"][rank]  # another file count on each rank: refused on every rank, before extraction
        try:
            evaluate(mine, sources["real"], extractor=EXTRACTOR, metrics=["fid"])
        except ImageFolderError as exc:
            results["mismatch"] = str(exc)
        queue.put((rank, results))
    finally:
        dist.destroy_process_group()


def _generate(n: int) -> torch.Tensor:
    return torch.rand(n, 3, 20, 20)


def _api_results(sources: dict[str, Any]) -> dict[str, Any]:
    from ganprobe.run.pipeline import evaluate

    loader = torch.utils.data.DataLoader(sources["real"], batch_size=5)
    results = {}
    for name, fake, real, samples in (
        ("tensor", sources["fake"], sources["real"], None),
        ("generator", _generate, loader, 70),
        ("folder", sources["folder"], sources["real"], 9),
    ):
        result = evaluate(fake, real, extractor=EXTRACTOR, metrics=["fid", "knn_loo", "precision_recall", "kid"],
                          num_samples=samples, batch_size=6, settings={"kid": {"subset_size": 8}})  # fmt: skip
        results[name] = {"values": result.values(), "processes": result.processes}
    return results


def test_api_inside_a_process_group_equals_one_process(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    sources = {
        "fake": torch.randint(0, 256, (23, 3, 20, 20), dtype=torch.uint8, generator=generator),
        "real": torch.rand(31, 3, 20, 20, generator=generator),
        "folder": str(png_folder(tmp_path / "folder", 14, 3)),
        "mismatch": [str(png_folder(tmp_path / f"view{rank}", 5 + rank, 4)) for rank in (0, 1)],
    }
    torch.set_num_threads(1)
    try:
        expected = _api_results(sources)
    finally:
        torch.set_num_threads(2)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    processes = [ctx.Process(target=_api_worker, args=(rank, port, queue, sources)) for rank in range(2)]
    for process in processes:
        process.start()
    got = dict(queue.get(timeout=600) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    for rank in (0, 1):
        assert "the processes see different image files (rank 0: 5, rank 1: 6)" in got[rank].pop("mismatch")
        for name, result in got[rank].items():
            assert result["values"] == expected[name]["values"], (rank, name)
            assert result["processes"]["world_size"] == 2
    extracted = {name: result["processes"]["extracted"] for name, result in got[0].items()}
    assert extracted["tensor"] == {"fake": [12, 11], "real": [18, 13]}  # whole batches of 6
    assert extracted["generator"] == {"fake": [36, 34], "real": [16, 15]}  # the loader's batches of 5, in turn
    assert extracted["folder"] == {"fake": [6, 3], "real": [6, 3]}
    assert sum(extracted["generator"]["fake"]) == 70


def test_torchrun_stats_equals_one_process(tmp_path: Path) -> None:
    real = png_folder(tmp_path / "real", 23, 2)
    from ganprobe.front_ends.cli import main

    single, shared = tmp_path / "one.npz", tmp_path / "two.npz"
    common = ["--extractor", EXTRACTOR, "--batch-size", "4", "--quiet", "--no-cache"]
    torch.set_num_threads(1)
    try:
        assert main(["stats", str(real), "-o", str(single), *common]) == 0
    finally:
        torch.set_num_threads(2)
    run = _torchrun(["stats", str(real), "-o", str(shared), *common], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("wrote ") == 1  # rank 0 alone writes (and says so)
    with np.load(single, allow_pickle=False) as one, np.load(shared, allow_pickle=False) as two:
        assert sorted(one.files) == sorted(two.files)
        layers = [name for name in one.files if name != "meta"]
        assert layers and all(one[name].shape[0] == 23 for name in layers)
        for name in layers:  # bit for bit: the same batches as one process
            assert np.array_equal(one[name], two[name]), name
