"""Two CPU processes in one ``torch.distributed`` gloo group, for the tests that compare 2 ranks with 1 process.

:func:`run_on_two_ranks` spawns the ranks, each joins the group on a free local port, runs ``work(rank)`` and
sends back what it returns; meanwhile the parent computes the single-process answer. A rank that fails sends its
traceback, so the test fails with it at once instead of waiting for the queue's timeout.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD_SIZE = 2
Expected = TypeVar("Expected")


class RankFailed(str):
    """The traceback of a rank whose ``work`` raised (sent in place of its result)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for the group's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, port: int, queue: Any, work: Callable[[int], Any]) -> None:
    """One spawned rank: one torch thread (2 ranks share the cores), join the group, send ``(rank, work(rank))``."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        queue.put((rank, work(rank)))
    except BaseException:
        queue.put((rank, RankFailed(traceback.format_exc())))
        raise
    finally:
        dist.destroy_process_group()


def run_on_two_ranks(
    work: Callable[[int], Any],
    while_waiting: Callable[[], Expected] | None = None,
    timeout: float = 180.0,
) -> tuple[dict[int, Any], Expected | None]:
    """Run ``work(rank)`` on 2 spawned gloo ranks and return ``({rank: its result}, while_waiting())``.

    Args:
        work: a module-level function (the spawned ranks import it by name) of the rank; its result must pickle.
        while_waiting: called in this process while the ranks start up (starting a group costs ~10 s per process
            on a busy machine): the single-process answer to compare with.
        timeout: seconds to wait for each rank's result.

    Raises:
        AssertionError: a rank raised (with its traceback) or exited with a non-zero code.
    """
    context = mp.get_context("spawn")
    port, queue = free_port(), context.Queue()
    processes = [context.Process(target=_rank_main, args=(rank, port, queue, work)) for rank in range(WORLD_SIZE)]
    for process in processes:
        process.start()
    results: dict[int, Any] = {}
    failed = False
    try:
        expected = while_waiting() if while_waiting is not None else None
        while len(results) < WORLD_SIZE and not failed:
            rank, result = queue.get(timeout=timeout)
            results[rank] = result
            failed = isinstance(result, RankFailed)  # the other rank may wait on it in a collective: stop now
    finally:
        for process in processes:
            process.join(timeout=0 if failed else 60)
            if process.is_alive():
                process.kill()
                process.join()
    for rank, result in sorted(results.items()):
        assert not isinstance(result, RankFailed), f"rank {rank} failed:\n{result}"
    assert [process.exitcode for process in processes] == [0] * WORLD_SIZE
    return results, expected
