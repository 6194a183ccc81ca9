"""Class labels for an image set (issue 24 item 1): subfolders, a path,label file, a tensor, a classifier's logits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.data.labels import (
    MAX_LABEL_FILE_BYTES,
    ClassLabels,
    labels_from_file,
    labels_from_logits,
    labels_from_subfolders,
    labels_from_tensor,
    shared_classes,
)
from ganprobe.data.listing import list_folder
from ganprobe.errors import GanprobeError, ImageFolderError, InputError

# Small solves and products on a shared 2-core machine: one thread (see conftest).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, dtype=np.uint8)).save(path)


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    root = tmp_path / "real"
    for label, count in (("3", 2), ("10", 1), ("2", 3)):
        for index in range(count):
            _png(root / label / f"img_{index}.png", index)
    return root


def test_subfolders_give_one_label_per_listed_image_in_listing_order(class_folder: Path) -> None:
    listing, labels = labels_from_subfolders(class_folder)
    assert labels.names == ("2", "3", "10")  # whole numbers sort numerically
    expected = [name.split("/")[0] for name in list_folder(class_folder).names]
    assert [labels.names[i] for i in labels.indices.tolist()] == expected == [n.split("/")[0] for n in listing.names]
    assert labels.counts().tolist() == [3, 2, 1]


def test_subfolders_use_the_listing_rules_hidden_skipped_linked_folder_not_entered(class_folder: Path) -> None:
    _png(class_folder / ".hidden" / "x.png")
    _png(class_folder / "3" / ".x.png")
    outside = class_folder.parent / "outside"
    _png(outside / "y.png")
    os.symlink(outside, class_folder / "linked", target_is_directory=True)
    listing, labels = labels_from_subfolders(class_folder)
    assert len(listing) == len(labels) == 6 and labels.names == ("2", "3", "10")


def test_subfolders_refuse_an_image_outside_a_class_folder(class_folder: Path) -> None:
    _png(class_folder / "stray.png")
    with pytest.raises(ImageFolderError, match=r"stray\.png: image outside a class subfolder"):
        labels_from_subfolders(class_folder)


def test_text_class_names_sort_as_text(tmp_path: Path) -> None:
    for name in ("dog", "cat", "10"):
        _png(tmp_path / name / "a.png")
    assert labels_from_subfolders(tmp_path)[1].names == ("10", "cat", "dog")


def _flat_folder(tmp_path: Path) -> Path:
    root = tmp_path / "fake"
    for index in range(4):
        _png(root / f"{index}.png", index)
    return root


def test_csv_and_json_files_give_the_same_labels_aligned_to_the_listing(tmp_path: Path) -> None:
    root = _flat_folder(tmp_path)
    rows = {"2.png": "cat", "0.png": "dog", "3.png": "cat", "1.png": "dog"}
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("path,label\n" + "".join(f"{path},{label}\n" for path, label in rows.items()))
    json_file = tmp_path / "labels.json"
    json_file.write_text(json.dumps(rows, indent=1))
    for label_file in (csv_file, json_file):
        listing, labels = labels_from_file(label_file, root)
        assert labels.names == ("cat", "dog")
        assert [labels.names[i] for i in labels.indices.tolist()] == [rows[name] for name in listing.names]


def test_json_integer_labels_and_csv_quoting(tmp_path: Path) -> None:
    root = tmp_path / "set"
    _png(root / "a,b.png")
    _png(root / "c.png")
    (tmp_path / "l.csv").write_text('"a,b.png",7\nc.png,"7"\n')
    assert labels_from_file(tmp_path / "l.csv", root)[1].indices.tolist() == [0, 0]
    (tmp_path / "l.json").write_text('{"a,b.png": 7, "c.png": 10}')
    labels = labels_from_file(tmp_path / "l.json", root)[1]
    assert labels.names == ("7", "10") and labels.indices.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("l.csv", "0.png,a\n1.png\n", r"l\.csv, line 2: expected 2 fields \(path,label\), got 1"),
        ("l.csv", "0.png,a\n1.png,b,c\n", r"l\.csv, line 2: expected 2 fields"),
        ("l.csv", "0.png,a\n0.png,b\n", r"l\.csv, line 2: duplicate path '0\.png' \(first at line 1\)"),
        ("l.csv", "0.png,a\n9.png,b\n", r"l\.csv, line 2: '9\.png' is not an image listed in"),
        ("l.csv", "0.png,a\n1.png, b\n", r"l\.csv, line 2: bad label ' b'"),
        ("l.csv", "0.png,a\n\n1.png,b\n", r"l\.csv, line 2: expected 2 fields"),
        ("l.csv", '0.png,"a\n', r"l\.csv, line \d: malformed CSV"),
        ("l.csv", "0.png,a\n1.png,b\n", r"l\.csv: 2 image\(s\) of .* have no label, e\.g\. '2\.png'"),
        ("l.json", '{"0.png": "a",\n "0.png": "b"}', r"l\.json, line 2: duplicate path '0\.png' \(first at line 1\)"),
        ("l.json", '{"0.png": "a",\n "1.png": [1]}', r"l\.json, line 2: label must be .*, got list"),
        ("l.json", '{"0.png": "a",\n "1.png": {"x": 1}}', r"l\.json: expected one JSON object .* no nested"),
        ("l.json", '{"0.png": "a",\n "1.png": true}', r"l\.json, line 2: label must be a string or an integer"),
        ("l.json", '{"0.png": "a",\n "1.png" "b"}', r"l\.json, line 2: invalid JSON"),
        ("l.json", '["0.png", "a"]', r"l\.json: expected one JSON object"),
        ("l.txt", "0.png,a\n", r"l\.txt: label file must end in \.csv or \.json"),
    ],
)
def test_bad_label_files_fail_with_one_line_naming_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    root = _flat_folder(tmp_path)
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        labels_from_file(tmp_path / name, root)
    assert "\n" not in str(caught.value) and isinstance(caught.value, GanprobeError)


def test_label_file_too_large_or_not_utf8_or_not_a_file(tmp_path: Path) -> None:
    root = _flat_folder(tmp_path)
    big = tmp_path / "big.csv"
    with open(big, "wb") as handle:
        handle.truncate(MAX_LABEL_FILE_BYTES + 1)
    with pytest.raises(InputError, match=r"big\.csv: label file of .* bytes exceeds"):
        labels_from_file(big, root)
    (tmp_path / "latin.csv").write_bytes(b"0.png,a\n1.png,caf\xe9\n")
    with pytest.raises(InputError, match=r"latin\.csv, line 2: not UTF-8 text"):
        labels_from_file(tmp_path / "latin.csv", root)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=r"dir\.csv: the label file is not a regular file"):
        labels_from_file(tmp_path / "dir.csv", root)
    with pytest.raises(InputError, match=r"absent\.csv: cannot read the label file"):
        labels_from_file(tmp_path / "absent.csv", root)


def test_deeply_nested_json_is_refused_before_parsing(tmp_path: Path) -> None:
    root = _flat_folder(tmp_path)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match=r"deep\.json: JSON nested 100000 levels deep"):
        labels_from_file(tmp_path / "deep.json", root)


def test_labels_from_a_tensor_beside_the_images() -> None:
    labels = labels_from_tensor(torch.tensor([2, 0, 2]), 3, names=["zero", "one", "two"])
    assert labels.indices.tolist() == [2, 0, 2] and labels.names == ("zero", "one", "two")
    assert labels_from_tensor(torch.tensor([1, 0], dtype=torch.int32), 2).names == ("0", "1")
    for bad, message in (
        (torch.tensor([0.0, 1.0]), "expected integer class indices"),
        (torch.tensor([[0, 1]]), r"expected a \(N,\) tensor"),
        (torch.tensor([0, -1]), "must be >= 0"),
        (torch.tensor([0, 1, 1]), "3 labels for 2 images"),
    ):
        with pytest.raises(InputError, match=message):
            labels_from_tensor(bad, 2, argument="labels")
    with pytest.raises(InputError, match="index 2 but only 2 class names"):
        labels_from_tensor(torch.tensor([0, 2]), 2, names=["a", "b"])


def test_labels_from_a_classifiers_logits_are_its_predicted_digits() -> None:
    from mnist_classes import digits

    from ganprobe.extractors import get_extractor

    data = digits()
    with torch.no_grad():
        logits = get_extractor("lenet-mnist")(data.images[:300].expand(-1, 3, -1, -1).contiguous(), layers="logits")
    labels = labels_from_logits(logits["logits"])
    assert labels.names == tuple(str(digit) for digit in range(10))
    assert float((labels.indices == data.labels[:300]).double().mean()) >= 0.95
    with pytest.raises(InputError, match="logits: contains NaN"):
        labels_from_logits(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(InputError, match="names: 1 class names for 2 logit columns"):
        labels_from_logits(torch.zeros(3, 2), names=["a"])


def test_shared_classes_put_two_sets_on_one_class_list() -> None:
    real = ClassLabels(torch.tensor([0, 1, 1]), ("3", "7"))
    fake = ClassLabels(torch.tensor([0, 1]), ("3", "10"))
    real_shared, fake_shared = shared_classes(real, fake)
    assert real_shared.names == fake_shared.names == ("3", "7", "10")
    assert real_shared.indices.tolist() == [0, 1, 1] and fake_shared.indices.tolist() == [0, 2]
    assert fake_shared.counts().tolist() == [1, 0, 1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_label_file_is_refused_without_opening_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _flat_folder(tmp_path)
    os.mkfifo(tmp_path / "pipe.csv")
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda path, *args, **kwargs: opened.append(str(path)) or real_open(path, *args, **kwargs)
    )
    with pytest.raises(InputError, match=r"pipe\.csv: the label file is not a regular file"):
        labels_from_file(tmp_path / "pipe.csv", root)
    assert not [path for path in opened if path.endswith("pipe.csv")]
