"""Output paths (issue 14, items 1-2): an output never replaces what it points at and never destroys an input.

Device tests use private device nodes made with ``mknod`` in the test folder (the same devices as ``/dev/null``
and ``/dev/full``), so a bug can never replace the machine's own ``/dev/null``.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganprobe.errors import UsageError
from ganprobe.front_ends.cli import main
from ganprobe.run.output_paths import check_output_paths
from ganprobe.utils.atomic_files import atomic_write

BASE = ["--extractor", "random-resnet18", "--metrics", "fid", "--quiet", "--workers", "0", "--no-cache"]


def device(path: Path, minor: int) -> Path:
    """A character device node like ``/dev/null`` (minor 3) or ``/dev/full`` (minor 7), or skip the test."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here ({exc})")
    return path


def folder(path: Path, count: int, seed: int) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)).save(path / f"img_{index:02d}.png")
    return path


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    return folder(tmp_path / "fake", 4, 1), folder(tmp_path / "real", 4, 2)


def test_symlinked_output_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "reports" / "latest.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(real)
    atomic_write(link, lambda handle: handle.write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "report.json"
    link.symlink_to(tmp_path / "made.json")
    atomic_write(link, lambda handle: handle.write(b"x"))
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "x"


def test_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o600)
    atomic_write(path, lambda handle: handle.write(b"new"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "new"


def test_hard_linked_output_is_written_through_every_name(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    os.link(path, tmp_path / "alias.json")
    atomic_write(path, lambda handle: handle.write(b"new"))
    assert (tmp_path / "alias.json").read_text() == "new" and path.stat().st_nlink == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.json", "report.json"]


def test_new_file_gets_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.json", lambda handle: handle.write(b"x"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_fifo_output_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    atomic_write(fifo, lambda handle: handle.write(b"report"))
    reader.join(timeout=30)
    assert received == [b"report"] and stat.S_ISFIFO(fifo.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_null_device_is_written_not_replaced(tmp_path: Path) -> None:
    null = device(tmp_path / "null", 3)
    atomic_write(null, lambda handle: handle.write(b"x" * 1000))
    assert stat.S_ISCHR(null.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_full_device_fails_with_its_name(tmp_path: Path) -> None:
    full = device(tmp_path / "full", 7)
    with pytest.raises(OSError) as info:
        atomic_write(full, lambda handle: handle.write(b"x" * 100_000))
    assert info.value.filename == str(full) and stat.S_ISCHR(full.stat().st_mode)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")

    def failing(handle) -> None:  # noqa: ANN001
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as info:
        atomic_write(path, failing)
    assert info.value.filename == str(path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_check_output_paths_refuses_inputs_members_links_and_duplicates(tmp_path: Path) -> None:
    fake = folder(tmp_path / "fake", 2, 1)
    stats = tmp_path / "real.npz"
    stats.write_bytes(b"stats")
    (tmp_path / "link.npz").symlink_to(stats)
    os.link(fake / "img_00.png", tmp_path / "hard.png")
    inputs = [fake, stats]
    for outputs, message in [
        ({"--json": fake / "img_00.png"}, "--json: .* is inside the input folder"),
        ({"--html": fake / "new.html"}, "--html: .* is inside the input folder"),
        ({"--json": stats}, "--json: .* is the input"),
        ({"--json": tmp_path / "link.npz"}, "--json: .* is the input"),
        ({"--junit": tmp_path / "hard.png"}, "--junit: .* is inside the input folder"),
        ({"--json": tmp_path / "r.json", "--html": tmp_path / "r.json"}, "--html: .* is also the --json output"),
        ({"--json": tmp_path / "sub" / ".." / "r.json", "--html": tmp_path / "r.json"}, "also the --json"),
    ]:
        with pytest.raises(UsageError, match=message):
            check_output_paths(outputs, inputs)
    check_output_paths({"--json": tmp_path / "out" / "r.json", "--html": tmp_path / "r.html"}, inputs)


def test_null_device_twice_is_allowed(tmp_path: Path) -> None:
    null = device(tmp_path / "null", 3)
    check_output_paths({"--json": null, "--html": null}, [])


@pytest.mark.parametrize("where", ["image", "twice", "baseline", "stats"])
def test_cli_refuses_an_output_that_names_an_input_before_any_work(
    where: str, sets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, real = sets
    image = fake / "img_00.png"
    original = image.read_bytes()
    baseline = tmp_path / "baseline.json"
    baseline.write_text('{"schema_version": 2, "metrics": [{"key": "fid", "value": 1.0}]}')
    args = ["evaluate", str(fake), str(real), *BASE]
    if where == "image":
        args += ["--json", str(image)]
    elif where == "twice":
        args += ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.json")]
    elif where == "baseline":
        args += ["--baseline", str(baseline), "--json", str(baseline)]
    else:
        stats = tmp_path / "real.npz"
        assert main(["stats", str(real), "-o", str(stats), *BASE[:2], "--quiet", "--workers", "0", "--no-cache"]) == 0
        capsys.readouterr()
        before = stats.read_bytes()
        args = ["evaluate", str(fake), str(stats), *BASE, "--json", str(stats)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ("--json" in err or "--html" in err), err
    assert image.read_bytes() == original and not (tmp_path / "r.json").exists()
    if where == "stats":
        assert stats.read_bytes() == before


def test_cli_stats_output_inside_the_real_folder_is_refused(sets: tuple[Path, Path], capsys) -> None:  # noqa: ANN001
    _, real = sets
    assert main(["stats", str(real), "-o", str(real / "s.npz"), "--extractor", "random-resnet18", "--no-cache"]) == 2
    assert "--output: " in capsys.readouterr().err and not (real / "s.npz").exists()


def test_cli_full_device_is_exit_2_naming_the_option(
    sets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = device(tmp_path / "full", 7)
    null = device(tmp_path / "null", 3)
    fake, real = sets
    assert main(["evaluate", str(fake), str(real), *BASE, "--json", str(null)]) == 0
    assert stat.S_ISCHR(null.stat().st_mode)
    capsys.readouterr()
    assert main(["evaluate", str(fake), str(real), *BASE, "--json", str(full)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--json" in err and "No space left" in err, err
    assert stat.S_ISCHR(full.stat().st_mode)
