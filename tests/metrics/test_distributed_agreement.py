"""The processes of one run must agree before any work: on every option that changes what is computed, and on the
content of every image source (the fingerprint the feature cache keys it by). A disagreement, or a bad input met by
one rank only, stops every rank with exit 2 and one line (rank 0's), and nothing is written to the cache.

Each rank runs ``ganprobe.front_ends.cli.main`` with the environment ``torchrun`` sets (2 spawned gloo processes), so
that
each rank can be given its own arguments, as a stale copy or a per-node launcher would give them.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from gloo_ranks import free_port
from test_distributed_evaluate import png_folder

from ganprobe.front_ends.cli import run_configuration
from ganprobe.utils.distributed import check_same_everywhere, errors_together

EXTRACTOR = "lenet-mnist"


def _cli_rank(rank: int, port: int, argv: list[str]) -> tuple[int, str]:
    """``ganprobe`` on this rank as under ``torchrun``: its exit code and what it wrote to stderr."""
    from ganprobe.front_ends.cli import main

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, stderr.getvalue()


def _api_rank(rank: int, port: int, images: torch.Tensor) -> list[str]:
    """``evaluate()`` inside a process group, first with this rank's own batch size, then with this rank's own
    tensor: the errors each raised."""
    from ganprobe.errors import GanprobeError
    from ganprobe.run.pipeline import evaluate

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    messages = []
    try:
        for fake, batch_size in ((images, 4 + 4 * rank), (images if rank == 0 else images.roll(1, 0), 4)):
            try:
                evaluate(fake, images.flip(0), extractor=EXTRACTOR, metrics=["fid"], batch_size=batch_size)
                messages.append("no error")
            except GanprobeError as exc:
                messages.append(str(exc))
    finally:
        dist.destroy_process_group()
    return messages


def _worker(rank: int, ports: list[int], runs: list[dict[int, list[str]]], queue: Any) -> None:
    torch.set_num_threads(1)
    results: list[Any] = [_cli_rank(rank, port, argv[rank]) for port, argv in zip(ports, runs, strict=False)]
    images = torch.randint(0, 256, (12, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    results.append(_api_rank(rank, ports[-1], images))
    queue.put((rank, results))


def _run_ranks(runs: list[dict[int, list[str]]]) -> dict[int, list[Any]]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    ports = [free_port() for _ in range(len(runs) + 1)]
    processes = [ctx.Process(target=_worker, args=(rank, ports, runs, queue)) for rank in range(2)]
    for process in processes:
        process.start()
    got = dict(queue.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return got


def _one_line(results: dict[int, list[Any]], index: int) -> str:
    """Every rank exited 2 and exactly one error line was printed, by rank 0 (besides warnings): that line."""
    codes = [results[rank][index][0] for rank in (0, 1)]
    assert codes == [2, 2], (index, results[0][index], results[1][index])
    assert results[1][index][1] == "", results[1][index][1]  # rank 0 speaks for the run
    lines = [line for line in results[0][index][1].splitlines() if not line.startswith("ganprobe: warning:")]
    assert len(lines) == 1 and lines[0].startswith("ganprobe evaluate: error: "), lines
    return lines[0]


def test_ranks_agree_on_options_and_contents_or_stop_with_exit_2(tmp_path: Path) -> None:
    fake = png_folder(tmp_path / "fake", 16, 1)
    real = png_folder(tmp_path / "real", 16, 2)
    stale = png_folder(tmp_path / "stale", 16, 3)  # the same file names as real/, other images
    assert sorted(p.name for p in real.iterdir()) == sorted(p.name for p in stale.iterdir())
    cache = tmp_path / "cache"
    common = ["evaluate", str(fake), "--extractor", EXTRACTOR, "--quiet", "--cache-dir", str(cache)]
    report = tmp_path / "report.json"
    runs = [
        # item 5: another --batch-size on rank 1 (before: 56 of 64 rows used, exit 0)
        {0: [*common, str(real), "--batch-size", "4"], 1: [*common, str(real), "--batch-size", "8"]},
        # item 5: other --metrics on rank 1 (before: rank 1 exit 3, rank 0 wrote a passing report)
        {
            rank: [*common, str(real), "--metrics", *metrics, "--json", str(report)]
            for rank, metrics in ((0, ["fid"]), (1, ["fid", "kid"]))
        },  # fmt: skip
        # item 4: rank 1 reads a stale copy under the same names (before: exit 0, mixed features cached)
        {0: [*common, str(real), "--batch-size", "4"], 1: [*common, str(stale), "--batch-size", "4"]},
        # item 6: rank 1 alone meets a bad input (its folder is missing)
        {0: [*common, str(real)], 1: [*common, str(tmp_path / "missing")]},
    ]
    results = _run_ranks(runs)

    line = _one_line(results, 0)
    assert "--batch-size: differs between the processes (rank 0: 4, rank 1: 8)" in line
    line = _one_line(results, 1)
    assert '--metrics: differs between the processes (rank 0: ["fid"], rank 1: ["fid", "kid"])' in line
    assert not report.exists()
    line = _one_line(results, 2)
    assert f"{real}: the processes see different contents under the same file names" in line
    assert "--hash-contents" in line
    assert not cache.exists() or not any(path.is_file() for path in cache.rglob("*"))  # nothing cached
    line = _one_line(results, 3)
    assert "missing" in line and "does not exist" in line
    for rank in (0, 1):  # the API inside a process group: the extraction's arguments and tensors are compared too
        batch_size, contents = results[rank][-1]
        assert "batch_size: differs between the processes (rank 0: 4, rank 1: 8)" in batch_size
        assert "the tensor: the processes hold different images (content fingerprints rank 0: " in contents


def test_run_configuration_names_what_changes_the_numbers() -> None:
    from ganprobe.front_ends.cli import build_parser

    args = build_parser().parse_args(["evaluate", "f", "r", "--device", "cuda:1", "--json", "a.json", "--quiet"])
    run = run_configuration(args)
    assert run["--device"] == "cuda" and run["--batch-size"] == args.batch_size and "--metrics" in run
    assert not {"--json", "--quiet", "--fake", "--real", "--workers", "--cache-dir"} & run.keys()
    other = build_parser().parse_args(["evaluate", "g", "s", "--device", "cuda:0", "--json", "b.json"])
    assert run_configuration(other) == run  # outputs, folders and the rank's own GPU may differ


def test_outside_a_process_group_the_checks_pass_through() -> None:
    check_same_everywhere({"--batch-size": 4})
    with pytest.raises(OSError), errors_together():
        raise OSError("raised as is outside DDP")
