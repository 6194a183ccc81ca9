"""Outputs that cannot be written, standard streams and links into the inputs (issue 22, items 8 and 9).

* an output whose folder cannot be created (``/proc/nope/r.json``) is refused before any extraction;
* ``--json /dev/stdout`` is written to the process's own standard output as a stream: into a pipe, or into a log
  the shell opened for appending (``>> ci.log``), whose earlier lines stay;
* an output naming the target of a symbolic link inside an input folder (an image the run reads) is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_outputs import folder as _folder

import ganprobe
from ganprobe.front_ends.cli import main
from ganprobe.run.output_paths import check_output_paths

FAST = ["--extractor", "random-resnet18", "--metrics", "fid", "--quiet", "--workers", "0", "--no-cache"]


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    """Four fake and four real 12x12 images (test_outputs' folders)."""
    return _folder(tmp_path / "fake", 4, 1), _folder(tmp_path / "real", 4, 2)


def _cli(*arguments: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(Path(ganprobe.__file__).parents[1]), "GANPROBE_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ganprobe", *arguments],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def _json_documents(text: str) -> list[dict]:
    """Every JSON object in ``text`` that starts at the beginning of a line."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    while (start := text.find("\n{", index)) != -1 or (index == 0 and text.startswith("{")):
        start = 0 if index == 0 and text.startswith("{") else start + 1
        try:
            document, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        found.append(document)
        index = end
    return found


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_output_under_proc_is_refused_before_any_extraction(
    sets: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ganprobe.front_ends.cli

    calls: list[int] = []

    def build(_args: object) -> None:  # the backbone loads after every check, before any extraction
        calls.append(1)
        raise RuntimeError("the run went past its checks")

    monkeypatch.setattr(ganprobe.front_ends.cli, "_build_extractor", build)
    fake, real = sets
    assert main(["evaluate", str(fake), str(real), *FAST, "--json", "/proc/nope/r.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert calls == [] and len(err.splitlines()) == 1 and "--json" in err and "/proc/nope/r.json" in err, err


def test_an_output_in_a_read_only_folder_is_refused_as_not_writable(tmp_path: Path) -> None:
    """Writability is tried, not guessed from permission bits (root passes every ``os.access`` check)."""
    from ganprobe.errors import UsageError

    with pytest.raises(UsageError, match="--html: .*cannot"):
        check_output_paths({"--html": "/proc/nope/r.html"}, [])
    check_output_paths({"--html": str(tmp_path / "new" / "deeper" / "r.html")}, [])  # creatable: fine
    assert not (tmp_path / "new").exists()  # the check leaves nothing behind


def test_json_to_piped_stdout_is_written_as_a_stream(sets: tuple[Path, Path]) -> None:
    fake, real = sets
    done = _cli("evaluate", str(fake), str(real), *FAST, "--json", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    reports = [document for document in _json_documents(done.stdout) if "schema_version" in document]
    assert len(reports) == 1 and reports[0]["inputs"]["fake"]["count"] == 4, done.stdout[-2000:]


def test_json_to_stdout_appended_to_a_log_keeps_its_earlier_lines(sets: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = sets
    log = tmp_path / "ci.log"
    earlier = "step 1: lint passed\nstep 2: unit tests passed\n"
    log.write_text(earlier)
    with open(log, "a") as appended:  # what `>> ci.log` gives the command
        done = _cli("evaluate", str(fake), str(real), *FAST, "--json", "/dev/stdout", stdout=appended)
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith(earlier), text[:500]
    assert "fake vs real" in text  # the terminal report is still there, after the earlier lines
    reports = [document for document in _json_documents(text) if "schema_version" in document]
    assert len(reports) == 1
    assert text.index("fake vs real") < text.index('"schema_version"')  # the report follows what was printed


def test_json_to_stdout_redirected_to_a_file_follows_the_printed_tables(
    sets: tuple[Path, Path], tmp_path: Path
) -> None:
    fake, real = sets
    out = tmp_path / "out.txt"
    with open(out, "w") as truncated:  # `> out.txt`
        done = _cli("evaluate", str(fake), str(real), *FAST, "--json", "/dev/stdout", stdout=truncated)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    tables = text[: text.index("{")]  # the verdict and tables come first, the JSON document after them
    assert tables.startswith("In short") and "fake vs real" in tables and len(_json_documents(text)) == 1, text[:300]


def test_stream_descriptor_names_only_this_process_streams(tmp_path: Path) -> None:
    from ganprobe.run.output_paths import stream_descriptor

    assert stream_descriptor("/dev/stdout") == 1 and stream_descriptor("/dev/stderr") == 2
    assert stream_descriptor(f"/proc/{os.getpid()}/fd/1") == 1 and stream_descriptor("/proc/self/fd/2") == 2
    link = tmp_path / "out"
    link.symlink_to("/dev/stdout")
    assert stream_descriptor(link) == 1
    assert stream_descriptor(tmp_path / "report.json") is None
    assert stream_descriptor("/dev/null") is None


def test_an_output_naming_a_symlinked_image_target_is_refused(
    sets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, real = sets
    elsewhere = _folder(tmp_path / "elsewhere", 1, 3) / "img_00.png"
    (fake / "linked.png").symlink_to(elsewhere)
    original = elsewhere.read_bytes()
    for option in ("--json", "--html", "--junit"):
        assert main(["evaluate", str(fake), str(real), *FAST, option, str(elsewhere)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and option in err and "linked.png" in err, err
        assert elsewhere.read_bytes() == original
