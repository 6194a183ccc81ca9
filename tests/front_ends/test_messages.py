"""File names with control characters never cut a message line or reach the terminal raw (issue 14, item 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganprobe.errors import SkippedImagesWarning
from ganprobe.extractors import get_extractor
from ganprobe.features import extract_features
from ganprobe.front_ends.cli import cli_warning_line, main
from ganprobe.utils.safe_text import one_line, quote_path

NASTY = "bad\n\x1b[31mred\r.png"


def test_quote_path_leaves_plain_names_alone_and_escapes_the_rest() -> None:
    assert quote_path("data/fake/img_00.png") == "data/fake/img_00.png"
    assert quote_path(Path("caf\u00e9.png")) == "caf\u00e9.png"
    assert quote_path(NASTY) == "'bad\\n\\x1b[31mred\\r.png'"
    assert quote_path(b"caf\xe9.png") == "'caf\\xe9.png'"  # not UTF-8: the byte, escaped
    assert one_line("a\nb\x1b[0m\tc") == "a\\nb\\x1b[0m\\tc"


def _folder(root: Path) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)).save(root / f"{index}.png")
    (root / NASTY).write_text("not an image")
    return root


def test_skip_warning_quotes_the_name(tmp_path: Path) -> None:
    fake = _folder(tmp_path / "fake")
    with pytest.warns(SkippedImagesWarning) as record:
        extract_features(get_extractor("random-resnet18"), fake, "pool", 4, num_workers=0, strict=False)
    message = str(next(w.message for w in record if isinstance(w.message, SkippedImagesWarning)))
    assert "\n" not in message and "\x1b" not in message and "\r" not in message
    assert "'bad\\n\\x1b[31mred\\r.png'" in message


def test_cli_warning_and_error_lines_carry_no_raw_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _folder(tmp_path / "fake")
    real = _folder(tmp_path / "real")
    args = ["evaluate", str(fake), str(real), "--extractor", "random-resnet18", "--metrics", "fid", "--quiet"]
    args += ["--workers", "0", "--no-cache"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err and "\r" not in err
    assert "red\\r.png': cannot decode image" in err
    formatted = cli_warning_line(SkippedImagesWarning(f"x {NASTY}"), SkippedImagesWarning, "f.py", 1)
    assert formatted.count("\n") == 1 and "\x1b" not in formatted  # what main() prints for every warning
