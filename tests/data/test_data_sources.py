"""Image folders (listing, decoding) and every image source turned into batches by ``iter_batches``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ganprobe.data.folder import list_images, load_image
from ganprobe.data.sources import iter_batches
from ganprobe.errors import ImageFolderError, InputError
from ganprobe.extractors.preprocessing import Preprocessing

PRE = Preprocessing(size=(16, 16), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path_factory.mktemp("isolated")
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("GANPROBE_WEIGHTS_DIR", str(root / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))


def _rgb(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _touch(root: Path, relative: str, data: bytes = b"") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _truncated_png(path: Path) -> Path:
    Image.fromarray(_rgb(64, 64, 99)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# ------------------------------------------------------------------------------------------------ list_images


def test_list_images_recursive_sorted_skips_hidden_case_insensitive(tmp_path: Path) -> None:
    # created out of order on purpose
    for relative in [
        "sub/deeper/d.PNG",
        "b.png",
        "sub/c.jpeg",
        "a.JPG",
        "sub.png",
        "x.WebP",
        ".hidden.png",
        ".git/e.png",
        "sub/.cache/f.png",
        "notes.txt",
        "sub/readme.md",
        "no_extension",
    ]:
        _touch(tmp_path, relative)
    found = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.JPG",
        "b.png",
        "sub.png",
        "sub/c.jpeg",
        "sub/deeper/d.PNG",
        "x.WebP",
    ]
    assert all(p.is_absolute() == tmp_path.is_absolute() for p in found)
    assert list_images(str(tmp_path)) == found


def test_list_images_does_not_follow_folder_links(tmp_path: Path) -> None:
    _touch(tmp_path, "one.png")
    os.symlink(tmp_path, tmp_path / "loop")  # a link loop must not hang or duplicate files
    os.symlink(tmp_path / "one.png", tmp_path / "two.png")  # links to files are followed
    found = [p.name for p in list_images(tmp_path)]
    assert found == ["one.png", "two.png"]


def test_list_images_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    with pytest.raises(ImageFolderError, match="does not exist") as info:
        list_images(missing)
    assert str(missing) in str(info.value)


def test_list_images_file_instead_of_folder(tmp_path: Path) -> None:
    path = _touch(tmp_path, "image.png")
    with pytest.raises(ImageFolderError, match="not a folder") as info:
        list_images(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("contents", [[], ["notes.txt"], ["sub/notes.txt", ".hidden/a.png", ".b.png"]])
def test_list_images_without_images(tmp_path: Path, contents: list[str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for relative in contents:
        _touch(folder, relative)
    with pytest.raises(ImageFolderError, match="no image files") as info:
        list_images(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------- load_image


def test_load_rgb(tmp_path: Path) -> None:
    array = _rgb(5, 7, 0)
    Image.fromarray(array).save(tmp_path / "rgb.png")
    out = load_image(tmp_path / "rgb.png")
    assert out.dtype == torch.uint8 and out.shape == (3, 5, 7) and out.is_contiguous()
    assert torch.equal(out, torch.from_numpy(array).permute(2, 0, 1))


def test_load_grayscale(tmp_path: Path) -> None:
    array = np.arange(20, dtype=np.uint8).reshape(4, 5) * 12
    Image.fromarray(array, mode="L").save(tmp_path / "gray.png")
    out = load_image(tmp_path / "gray.png")
    assert out.shape == (3, 4, 5)
    for channel in range(3):
        assert torch.equal(out[channel], torch.from_numpy(array))


def test_load_palette(tmp_path: Path) -> None:
    palette = [0, 0, 0, 255, 0, 0, 0, 128, 0, 10, 20, 30]
    indices = np.array([[0, 1, 2], [3, 2, 1]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette + [0] * (768 - len(palette)))
    image.save(tmp_path / "pal.png")
    with Image.open(tmp_path / "pal.png") as check:
        assert check.mode == "P"
    out = load_image(tmp_path / "pal.png")
    colours = np.array(palette, dtype=np.uint8).reshape(-1, 3)
    assert torch.equal(out, torch.from_numpy(colours[indices]).permute(2, 0, 1))


def test_load_rgba_drops_alpha(tmp_path: Path) -> None:
    rgb = _rgb(3, 4, 1)
    alpha = np.array([[0, 255, 128, 1]] * 3, dtype=np.uint8)[..., None]
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), mode="RGBA").save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert out.shape == (3, 3, 4)
    assert torch.equal(out, torch.from_numpy(rgb).permute(2, 0, 1))


def test_load_16bit_grayscale(tmp_path: Path) -> None:
    levels = np.array([[0, 1, 2, 128], [200, 254, 255, 17]], dtype=np.uint16)
    Image.fromarray(levels * 257).save(tmp_path / "deep.png")  # 257 * k / 65535 == k / 255 exactly
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode in ("I;16", "I")
    out = load_image(tmp_path / "deep.png")
    assert out.dtype == torch.uint8 and out.shape == (3, 2, 4)
    for channel in range(3):
        assert torch.equal(out[channel], torch.from_numpy(levels.astype(np.uint8)))


def test_load_dark_16bit_grayscale(tmp_path: Path) -> None:
    samples = np.array([[0, 100, 200, 255]], dtype=np.uint16)  # at most 255/65535: nearly black
    Image.fromarray(samples).save(tmp_path / "dark.png")
    out = load_image(tmp_path / "dark.png")
    expected = np.floor(samples / 65535 * 255 + 0.5).astype(np.uint8)  # all 0 or 1
    assert torch.equal(out[0], torch.from_numpy(expected))


@pytest.mark.parametrize("kind", ["truncated", "zero-bytes", "text"])
def test_load_undecodable_file_names_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"bad-{kind}.png"
    if kind == "truncated":
        _truncated_png(path)
    elif kind == "zero-bytes":
        path.write_bytes(b"")
    else:
        path.write_text("this is not an image\n")
    with pytest.raises(ImageFolderError, match="cannot decode") as info:
        load_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ImageFolderError) as info:
        load_image(tmp_path / "gone.png")
    assert "gone.png" in str(info.value)


# ----------------------------------------------------------------------------------------------- folder source


SIZES = [(10, 12), (20, 8), (16, 16), (33, 17), (7, 9), (16, 40)]


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    for index, (height, width) in enumerate(SIZES):
        sub = "nested/" if index % 2 else ""
        (folder / sub).mkdir(exist_ok=True)
        Image.fromarray(_rgb(height, width, index)).save(folder / f"{sub}img{index}.png")
    return folder


def _expected_rows(folder: Path) -> Tensor:
    return torch.cat([PRE(load_image(path).unsqueeze(0)) for path in list_images(folder)])


@pytest.mark.parametrize("num_workers", [0, 1])
def test_folder_batches_shapes_and_order(mixed_folder: Path, num_workers: int) -> None:
    batches = list(iter_batches(mixed_folder, batch_size=4, preprocess=PRE, num_workers=num_workers))
    assert [tuple(b.shape) for b in batches] == [(4, 3, 16, 16), (2, 3, 16, 16)]
    assert torch.equal(torch.cat(batches), _expected_rows(mixed_folder))


class _PidRecordingPreprocess:
    """PRE, plus a note of which process ran it (picklable, so it can travel to a DataLoader worker)."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __call__(self, batch: Tensor) -> Tensor:
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return PRE(batch)


def test_folder_workers_give_identical_tensors(mixed_folder: Path, tmp_path: Path) -> None:
    log0, log1 = tmp_path / "pids0", tmp_path / "pids1"
    in_process = torch.cat(
        list(iter_batches(mixed_folder, batch_size=3, preprocess=_PidRecordingPreprocess(log0), num_workers=0))
    )
    in_worker = torch.cat(
        list(iter_batches(mixed_folder, batch_size=3, preprocess=_PidRecordingPreprocess(log1), num_workers=1))
    )
    assert set(log0.read_text().split()) == {str(os.getpid())}
    worker_pids = set(log1.read_text().split())
    assert len(worker_pids) == 1 and str(os.getpid()) not in worker_pids  # really decoded in a worker
    assert in_process.shape == (6, 3, 16, 16)
    assert torch.equal(in_process, in_worker)


def test_a_workers_batch_arrives_as_one_shared_tensor(mixed_folder: Path, tmp_path: Path) -> None:
    # One stacked tensor per batch crosses from the worker (not one per image), and is yielded without a copy.
    from ganprobe.data.sources import iter_folder_batches

    batches = list(iter_folder_batches(mixed_folder, 3, preprocess=PRE, num_workers=1))
    assert [batch.images.shape[0] for batch in batches] == [3, 3]  # type: ignore[union-attr]
    assert all(batch.images.is_shared() for batch in batches)  # type: ignore[union-attr]
    in_process = list(iter_folder_batches(mixed_folder, 3, preprocess=PRE, num_workers=0))
    for ours, theirs in zip(batches, in_process, strict=True):
        assert torch.equal(ours.images, theirs.images) and ours.files == theirs.files  # type: ignore[arg-type]
    # a skipped file makes batches straddle the worker's batches: still the same rows, in order
    Image.fromarray(_rgb(8, 8, 99)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    for index in range(4):
        Image.fromarray(_rgb(9, 7, index)).save(tmp_path / f"c{index}.png")
    rows = [torch.cat([b.images for b in iter_folder_batches(tmp_path, 2, None, PRE, workers, strict=False)])
            for workers in (0, 1)]  # fmt: skip
    assert rows[0].shape[0] == 5 and torch.equal(rows[0], rows[1])


def test_folder_num_samples_takes_the_first_files(mixed_folder: Path) -> None:
    batches = list(iter_batches(mixed_folder, batch_size=2, num_samples=3, preprocess=PRE, num_workers=0))
    assert [b.shape[0] for b in batches] == [2, 1]
    assert torch.equal(torch.cat(batches), _expected_rows(mixed_folder)[:3])


def test_folder_without_preprocessing_gives_uint8(tmp_path: Path) -> None:
    arrays = [_rgb(6, 5, seed) for seed in range(3)]
    for index, array in enumerate(arrays):
        Image.fromarray(array).save(tmp_path / f"{index}.png")
    (batch,) = list(iter_batches(tmp_path, batch_size=8, num_workers=0))
    assert batch.dtype == torch.uint8
    assert torch.equal(batch, torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2))


@pytest.mark.parametrize("num_workers", [0, 1])
def test_folder_with_a_corrupt_file_names_it(tmp_path: Path, num_workers: int) -> None:
    for index in range(5):
        Image.fromarray(_rgb(8, 8, index)).save(tmp_path / f"good{index}.png")
    bad = _truncated_png(tmp_path / "good2b.png")
    with pytest.raises(ImageFolderError) as info:
        list(iter_batches(tmp_path, batch_size=2, preprocess=PRE, num_workers=num_workers))
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_folder_source_errors_for_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageFolderError) as info:
        list(iter_batches(tmp_path / "absent", num_workers=0))
    assert "absent" in str(info.value)


# ------------------------------------------------------------------------------------------ tensor / iterables


def test_tensor_source_batches_and_num_samples() -> None:
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    plain = list(iter_batches(images, batch_size=4, num_samples=7))
    assert [b.shape[0] for b in plain] == [4, 3]
    assert torch.equal(torch.cat(plain), images[:7])
    processed = list(iter_batches(images, batch_size=4, preprocess=PRE))
    assert [tuple(b.shape) for b in processed] == [(4, 3, 16, 16), (4, 3, 16, 16), (2, 3, 16, 16)]
    assert torch.equal(torch.cat(processed), PRE(images))
    assert torch.equal(torch.cat(list(iter_batches(images, batch_size=3, num_samples=50))), images)


def test_dataloader_source_yields_images_only() -> None:
    images = torch.rand(7, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(7)
    loader = DataLoader(TensorDataset(images, labels), batch_size=3, shuffle=False)
    batches = list(iter_batches(loader))
    assert [tuple(b.shape) for b in batches] == [(3, 3, 8, 8), (3, 3, 8, 8), (1, 3, 8, 8)]
    assert torch.equal(torch.cat(batches), images)
    cut = list(iter_batches(loader, num_samples=5))
    assert [b.shape[0] for b in cut] == [3, 2]
    assert torch.equal(torch.cat(cut), images[:5])
    assert torch.equal(torch.cat(list(iter_batches(loader, preprocess=PRE))), PRE(images))


def test_iterable_of_non_tensors_is_rejected() -> None:
    with pytest.raises(InputError, match="source"):
        list(iter_batches([["a", "b"]]))


def test_unsupported_source_type_is_rejected() -> None:
    with pytest.raises(InputError, match="source"):
        list(iter_batches(42))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- generator callables


class _Generator:
    """A stand-in GAN generator: random images from the global RNG; records the sizes it was asked for."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, n: int) -> Tensor:
        self.calls.append(n)
        return torch.rand(n, 3, 4, 4)


def test_generator_requires_num_samples() -> None:
    with pytest.raises(InputError, match="num_samples"):
        list(iter_batches(_Generator(), batch_size=4))


def test_generator_batches_are_seeded_and_deterministic() -> None:
    gen = _Generator()
    first = list(iter_batches(gen, batch_size=4, num_samples=10, seed=3))
    assert gen.calls == [10]  # fixed chunks of GENERATOR_CHUNK (64), re-batched
    assert [b.shape[0] for b in first] == [4, 4, 2]
    many = _Generator()
    big = list(iter_batches(many, batch_size=50, num_samples=150, seed=3))
    assert many.calls == [64, 64, 22] and [b.shape[0] for b in big] == [50, 50, 50]
    small = torch.cat(list(iter_batches(_Generator(), batch_size=7, num_samples=150, seed=3)))
    assert torch.equal(torch.cat(big), small)  # independent of the batch size
    again = torch.cat(list(iter_batches(_Generator(), batch_size=4, num_samples=10, seed=3)))
    other = torch.cat(list(iter_batches(_Generator(), batch_size=4, num_samples=10, seed=4)))
    assert torch.equal(torch.cat(first), again)
    assert not torch.equal(again, other)
    torch.manual_seed(3)
    assert torch.equal(again, torch.cat([torch.rand(4, 3, 4, 4), torch.rand(4, 3, 4, 4), torch.rand(2, 3, 4, 4)]))


def test_generator_leaves_the_callers_rng_untouched() -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    batches = list(iter_batches(_Generator(), batch_size=4, num_samples=9, seed=0))
    assert len(batches) == 3
    assert torch.equal(torch.get_rng_state(), before)


def test_generator_is_independent_of_what_the_caller_does_between_batches() -> None:
    alone_a = torch.cat(list(iter_batches(_Generator(), batch_size=2, num_samples=6, seed=0)))
    alone_b = torch.cat(list(iter_batches(_Generator(), batch_size=2, num_samples=6, seed=1)))
    torch.manual_seed(99)
    caller_alone = torch.rand(3)
    torch.manual_seed(99)
    zipped_a, zipped_b, caller = [], [], []
    for a, b in zip(
        iter_batches(_Generator(), batch_size=2, num_samples=6, seed=0),
        iter_batches(_Generator(), batch_size=2, num_samples=6, seed=1),
        strict=True,
    ):
        zipped_a.append(a)
        zipped_b.append(b)
        caller.append(torch.rand(1))  # the caller's own draws, between batches
    assert torch.equal(torch.cat(zipped_a), alone_a)
    assert torch.equal(torch.cat(zipped_b), alone_b)
    assert torch.equal(torch.cat(caller), caller_alone)


@pytest.mark.parametrize(
    "bad",
    [
        lambda n: torch.rand(n - 1, 3, 4, 4) if n > 1 else torch.rand(2, 3, 4, 4),
        lambda n: torch.rand(n, 4, 4),
        lambda n: [torch.rand(3, 4, 4)] * n,
    ],
    ids=["wrong-count", "three-dims", "not-a-tensor"],
)
def test_generator_wrong_return_is_rejected(bad) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="generator") as info:
        list(iter_batches(bad, batch_size=4, num_samples=8))
    assert "fn(8)" in str(info.value)  # asked for one chunk of min(GENERATOR_CHUNK, num_samples) images


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8", None])
def test_bad_batch_size_is_rejected(batch_size: object) -> None:
    with pytest.raises(InputError, match="batch_size"):
        list(iter_batches(torch.rand(4, 3, 4, 4), batch_size=batch_size))  # type: ignore[arg-type]


@pytest.mark.parametrize("num_samples", [0, -1, 1.5, False])
def test_bad_num_samples_is_rejected(num_samples: object) -> None:
    with pytest.raises(InputError, match="num_samples"):
        list(iter_batches(_Generator(), num_samples=num_samples))  # type: ignore[arg-type]


@pytest.mark.parametrize(("count", "batch", "workers"), [(8, 8, 0), (5, 8, 0), (9, 8, 1), (17, 8, 2), (64, 8, 2)])
def test_a_decoding_worker_only_when_there_is_a_next_batch_to_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, batch: int, workers: int
) -> None:
    """One batch leaves nothing to overlap with the backbone: no worker process is started for it."""
    from ganprobe.data import sources

    for index in range(count):
        Image.fromarray(_rgb(6, 6, index)).save(tmp_path / f"{index:02d}.png")
    started: list[int] = []

    class Recording(DataLoader):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            started.append(kwargs["num_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sources, "DataLoader", Recording)
    batches = list(sources.iter_folder_batches(tmp_path, batch, num_workers=2))
    assert started == [workers]
    assert sum(len(item.files) for item in batches) == count
