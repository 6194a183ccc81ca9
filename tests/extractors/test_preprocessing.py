"""The one preprocessing path: ``to_unit_float`` (dtype, range and channel checks) and ``Preprocessing``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.extractors.preprocessing import Preprocessing, to_unit_float

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path_factory.mktemp("isolated")
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("GANPROBE_WEIGHTS_DIR", str(root / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))


def _uint8(shape: tuple[int, ...], seed: int = 0) -> Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _reference(images_unit: Tensor, size: tuple[int, int], mean=MEAN, std=STD) -> Tensor:
    """What the docs promise: antialiased bilinear resize of [0, 1] pixels, then (x - mean) / std."""
    resized = F.interpolate(images_unit, size=size, mode="bilinear", antialias=True, align_corners=False)
    return (resized - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


# --------------------------------------------------------------------------------------------- to_unit_float


def test_uint8_is_divided_by_255() -> None:
    images = _uint8((2, 3, 5, 7))
    images[0, 0, 0, 0], images[0, 0, 0, 1] = 0, 255
    out = to_unit_float(images)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 5, 7)
    torch.testing.assert_close(out, images.double().div(255).float(), rtol=0, atol=1e-7)
    assert out[0, 0, 0, 0] == 0.0 and out[0, 0, 0, 1] == 1.0


def test_float_in_unit_range_is_kept_and_cast_to_float32() -> None:
    images = torch.rand(3, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = to_unit_float(images)
    assert out.dtype == torch.float32
    assert torch.equal(out, images.float())


def test_rounding_overshoot_is_clamped() -> None:
    images = torch.full((1, 3, 2, 2), 0.5)
    images[0, 0, 0, 0] = 1.0004
    images[0, 0, 0, 1] = -0.0004
    out = to_unit_float(images)
    assert out[0, 0, 0, 0] == 1.0 and out[0, 0, 0, 1] == 0.0


def test_grayscale_is_repeated_to_three_channels() -> None:
    images = _uint8((2, 1, 4, 6))
    out = to_unit_float(images)
    assert out.shape == (2, 3, 4, 6)
    for channel in range(3):
        assert torch.equal(out[:, channel], images[:, 0].float() / 255)


def test_tanh_range_is_rejected_with_the_fix() -> None:
    images = torch.rand(2, 3, 4, 4) * 2 - 1
    with pytest.raises(InputError) as info:
        to_unit_float(images, argument="fakes")
    message = str(info.value)
    assert "(x + 1) / 2" in message and message.startswith("fakes:") and "\n" not in message


def test_values_far_above_one_are_rejected() -> None:
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        to_unit_float(torch.full((1, 3, 2, 2), 255.0))


def test_nan_is_rejected() -> None:
    images = torch.rand(2, 3, 4, 4)
    images[1, 2, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN") as info:
        to_unit_float(images, argument="reals")
    assert "reals" in str(info.value)


def test_four_channels_are_rejected() -> None:
    with pytest.raises(InputError, match="channels") as info:
        to_unit_float(_uint8((2, 4, 5, 5)))
    assert "(2, 4, 5, 5)" in str(info.value)


def test_nhwc_layout_is_rejected() -> None:
    with pytest.raises(InputError, match="channels"):
        to_unit_float(_uint8((2, 8, 8, 3)))


def test_three_dimensional_tensor_is_rejected() -> None:
    with pytest.raises(InputError, match="4 dimensions") as info:
        to_unit_float(_uint8((3, 8, 8)), argument="images")
    assert "(3, 8, 8)" in str(info.value)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_non_uint8_integer_dtypes_are_rejected(dtype: torch.dtype) -> None:
    with pytest.raises(InputError, match="dtype") as info:
        to_unit_float(torch.zeros(1, 3, 2, 2, dtype=dtype))
    assert str(dtype) in str(info.value)


def test_non_tensor_and_empty_batch_are_rejected() -> None:
    with pytest.raises(InputError, match="torch.Tensor"):
        to_unit_float([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="empty"):
        to_unit_float(torch.zeros(0, 3, 4, 4))


# --------------------------------------------------------------------------------------------- Preprocessing


@pytest.mark.parametrize("in_size", [(37, 23), (8, 8), (16, 40)])
def test_resize_and_normalise_match_interpolate(in_size: tuple[int, int]) -> None:
    pre = Preprocessing(size=(16, 16), mean=MEAN, std=STD)
    images = _uint8((3, 3, *in_size), seed=2)
    out = pre(images)
    assert out.shape == (3, 3, 16, 16) and out.dtype == torch.float32
    expected = _reference(images.float() / 255, (16, 16))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_non_square_target_size_is_height_width() -> None:
    pre = Preprocessing(size=(10, 20), mean=(0, 0, 0), std=(1, 1, 1))
    images = torch.rand(1, 3, 30, 30)
    out = pre(images)
    assert out.shape == (1, 3, 10, 20)
    torch.testing.assert_close(out, _reference(images, (10, 20), (0, 0, 0), (1, 1, 1)), rtol=0, atol=1e-6)


def test_matching_size_is_only_normalised() -> None:
    pre = Preprocessing(size=(6, 5), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    images = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(3))
    out = pre(images)
    expected = (images - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 2.0]).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)


def test_list_of_different_sizes_equals_each_image_alone() -> None:
    pre = Preprocessing(size=(16, 16), mean=MEAN, std=STD)
    images = [_uint8((3, 20, 30), seed=4), _uint8((3, 9, 9), seed=5), _uint8((1, 16, 16), seed=6), _uint8((3, 64, 17))]
    out = pre(images)
    assert out.shape == (4, 3, 16, 16)
    for row, image in zip(out, images, strict=True):
        assert torch.equal(row, pre(image.unsqueeze(0))[0])
    torch.testing.assert_close(out[1:2], _reference(images[1].unsqueeze(0).float() / 255, (16, 16)), rtol=0, atol=1e-6)


def test_list_error_names_the_bad_element() -> None:
    pre = Preprocessing(size=(8, 8), mean=MEAN, std=STD)
    with pytest.raises(InputError, match=r"imgs\[1\]"):
        pre([torch.rand(3, 8, 8), torch.rand(3, 8, 8) * 2 - 1], argument="imgs")
    with pytest.raises(InputError, match="non-empty"):
        pre([])


@pytest.mark.parametrize("in_size", [(37, 23), (5, 7), (16, 16)])
def test_batch_size_independence_is_exact(in_size: tuple[int, int]) -> None:
    pre = Preprocessing(size=(16, 16), mean=MEAN, std=STD)
    images = _uint8((7, 3, *in_size), seed=7)
    batch = pre(images)
    alone = torch.cat([pre(images[i : i + 1]) for i in range(7)])
    assert torch.equal(batch, alone)
    assert torch.equal(pre(images[2:5]), batch[2:5])


def test_describe_names_size_method_and_constants() -> None:
    text = Preprocessing(size=(224, 224), mean=MEAN, std=STD).describe()
    assert "224x224" in text and "bilinear-antialias" in text and str(MEAN) in text and str(STD) in text
    assert text != Preprocessing(size=(299, 299), mean=MEAN, std=STD).describe()


def test_declared_method_names_are_the_resize_modules() -> None:
    """A pipeline is checked against names written without torch; they must be the implemented methods."""
    from ganprobe.extractors import preprocessing, resize

    assert preprocessing.RESIZE_NAMES == tuple(resize.RESIZE_METHODS)
    assert preprocessing.CROP_NAMES == tuple(resize.CROP_METHODS)
    with pytest.raises(InputError, match="resize: expected one of"):
        Preprocessing(size=(8, 8), mean=MEAN, std=STD, resize="nearest")
