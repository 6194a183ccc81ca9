"""Studies §1 and §2 train the same DCGAN-64: it is trained once, kept under a key of its training settings, and
reused only when the kept copy verifies (a real folder, no links, every file as its manifest says)."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import reproduce_study  # noqa: E402
from gan.studies import common, shared_dcgan64  # noqa: E402

TINY = ["--images", "40", "--held-out", "16", "--steps", "2", "--width", "4", "--batch-size", "8"]
COMMON = ["--threads", "1", "--device", "cpu", "--extractor", "random-resnet18"]


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every DCGAN-64 training the studies start (its flags)."""
    calls: list[list[str]] = []
    real_run = shared_dcgan64.dcgan64.run
    monkeypatch.setattr(shared_dcgan64.dcgan64, "run", lambda argv: calls.append(list(argv)) or real_run(argv))
    return calls


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_campus_and_faces_train_one_dcgan64(tmp_path: Path, trainings: list[list[str]]) -> None:
    campus = reproduce_study.main(["campus", "--out", str(tmp_path / "campus"), *TINY, "--samples", "12", *COMMON])
    faces = reproduce_study.main(["faces", "--out", str(tmp_path / "faces"), *TINY, "--tsne-iterations", "250",
                                  *COMMON])  # fmt: skip
    assert len(trainings) == 1  # the second study reused the first one's run
    for group in ("fake", "real"):  # both evaluate the same exported images, each from its own copy
        ours, theirs = tmp_path / "campus" / "train" / "export" / group, faces.files[f"export_{group}"]
        assert ours.is_dir() and theirs == tmp_path / "faces" / "train" / "export" / group
        assert _digests(ours) == _digests(theirs) and len(_digests(theirs)) == 16
    assert campus.files["train_final_grid"].is_file() and faces.files["train_final_grid"].is_file()
    # Another training setting is another run.
    reproduce_study.main(["faces", "--out", str(tmp_path / "other"), *TINY[:-2], "--batch-size", "4",
                          "--tsne-iterations", "250", *COMMON])  # fmt: skip
    assert len(trainings) == 2 and len(list((tmp_path / "dcgan64_cache").iterdir())) == 2


def _args(tmp_path: Path) -> argparse.Namespace:
    parser = reproduce_study.build_parser()
    args = parser.parse_args(["faces", "--out", str(tmp_path / "faces"), *TINY, *COMMON])
    return common.resolve(args, reproduce_study.faces.SHORT, reproduce_study.faces.FULL)


def test_a_damaged_or_linked_cache_entry_is_never_trusted(tmp_path: Path, trainings: list[list[str]]) -> None:
    args, cache = _args(tmp_path), tmp_path / "cache"
    entry = shared_dcgan64.cached_run(args, cache)
    assert shared_dcgan64.verified(entry) and len(trainings) == 1
    assert shared_dcgan64.cached_run(args, cache) == entry and len(trainings) == 1  # reused
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]  # trained in a scratch folder, renamed
    # A changed file: the entry fails its manifest and is trained again.
    image = next((entry / "run" / "export" / "fake").glob("*.png"))
    image.write_bytes(image.read_bytes()[:-1] + b"\0")
    assert not shared_dcgan64.verified(entry)
    assert shared_dcgan64.cached_run(args, cache) == entry and len(trainings) == 2
    assert shared_dcgan64.verified(entry)
    # A link inside the entry: never followed, the entry is not trusted.
    outside = tmp_path / "outside.png"
    outside.write_bytes(image.read_bytes())
    image.unlink()
    image.symlink_to(outside)
    assert not shared_dcgan64.verified(entry)
    # The entry itself, or the cache folder, as a link: refused with the path named.
    moved = tmp_path / "moved"
    shared_dcgan64.cached_run(args, cache)  # retrained: a real entry again
    os.rename(entry, moved)
    entry.symlink_to(moved, target_is_directory=True)
    with pytest.raises(SystemExit, match=f"{entry}: a symbolic link"):
        shared_dcgan64.cached_run(args, cache)
    linked_cache = tmp_path / "linked_cache"
    linked_cache.symlink_to(cache, target_is_directory=True)
    with pytest.raises(SystemExit, match="is a symbolic link"):
        shared_dcgan64.cached_run(args, linked_cache)
    assert outside.read_bytes() and len(trainings) == 3  # nothing written through a link
