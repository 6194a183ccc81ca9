"""Feature extraction from an image folder, and a full evaluation, against the bare backbone and the competitors.

Sections of ``benchmarks/run.py``:

* ``extraction``: images/second of (a) the bare backbone forward on preloaded, preprocessed tensors, (b) ganprobe's
  ``extract_features`` on the folder (decode -> resize -> backbone, decoding in a DataLoader worker), (c)
  torchmetrics' ``FrechetInceptionDistance.update()`` with the same backbone as its ``feature`` module, fed
  batches decoded in a loop from the same folder, and (d) the same ``update()`` on preloaded ``uint8`` tensors.
  Also the backbone's FLOPs per image (``torch.utils.flop_counter.FlopCounterMode``) and this machine's float32
  matmul rate measured in the same run, so the backbone's share of the machine's peak is visible.
* ``evaluation``: ``ganprobe.Evaluator`` with every metric (one pass per image set) against torchmetrics' FID, KID
  and IS each run separately (each its own pass over the folder), and against torch-fidelity's
  ``calculate_metrics`` (FID + KID + ISC from one pass) with the same backbone registered as a custom feature
  extractor. KID uses ``subset_size = N`` so every library's subsets are the whole sets and the values must agree.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from measure import best_of, sync
from torch import Tensor, nn

EXTRACTOR = "efficientnet-lite0"


# --------------------------------------------------------------------------------------------------- images


def make_image_folders(root: Path, count: int, size: int, seed: int = 0, fakes: bool = True) -> tuple[Path, Path]:
    """Write ``count`` real and ``count`` fake RGB PNGs of ``size`` px under ``root``; returns the two folders.

    Real images are seeded random crops of scikit-image's sample photographs; fakes are other crops, blurred and
    with added noise, so FID/KID between the folders are clearly non-zero. ``fakes=False`` writes the real folder
    only (the same images; the fake folder is returned but left empty).
    """
    from PIL import Image, ImageFilter
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    folders = (root / "real", root / "fake")
    for index, folder in enumerate(folders if fakes else folders[:1]):
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(count):
            photo = photos[int(rng.integers(len(photos)))]
            side = int(rng.integers(size // 2, min(photo.shape[:2])))
            top = int(rng.integers(photo.shape[0] - side + 1))
            left = int(rng.integers(photo.shape[1] - side + 1))
            image = Image.fromarray(photo[top : top + side, left : left + side]).resize((size, size))
            if index == 1:
                image = image.filter(ImageFilter.GaussianBlur(1.5))
                noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 12, (size, size, 3))
                image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
            image.save(folder / f"{number:05d}.png")
    return folders


def _load_folder(folder: str) -> Tensor:
    from ganprobe.data.folder import list_images, load_image

    return torch.stack([load_image(path) for path in list_images(folder)])


def _folder_batches(folder: str, batch_size: int):  # noqa: ANN202 - a generator of uint8 batches
    """Decode ``folder`` in this process, ``batch_size`` images at a time (what a torchmetrics user writes)."""
    from ganprobe.data.folder import list_images, load_image

    paths = list_images(folder)
    for start in range(0, len(paths), batch_size):
        yield torch.stack([load_image(path) for path in paths[start : start + batch_size]])


class BackboneFeature(nn.Module):
    """torchmetrics' ``feature`` module: ``uint8`` images -> ganprobe's preprocessing -> backbone -> one layer."""

    def __init__(self, extractor: Any, layer: str) -> None:
        super().__init__()
        self.extractor = extractor
        self.layer = layer

    def forward(self, images: Tensor) -> Tensor:
        return self.extractor(images, layers=[self.layer])[self.layer]


# --------------------------------------------------------------------------------------------------- workers


def worker_matmul(spec: dict[str, Any]) -> dict[str, Any]:
    """This machine's float32 matmul rate: ``2 n^3`` FLOPs of an ``n x n`` product, best of ``repeats``."""
    device = torch.device(spec["device"])
    n = int(spec["n"])
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b  # warm-up
    _, timing = best_of(lambda: a @ b, device, int(spec["repeats"]))
    return {"n": n, "gflops": 2 * n**3 / timing["seconds"] / 1e9, **timing}


def worker_extraction(spec: dict[str, Any]) -> dict[str, Any]:
    """One side of the extraction comparison: images/second, and the features (or sums) for the value check."""
    from ganprobe.extractors.registry import get_extractor

    device = torch.device(spec["device"])
    side, folder, batch_size, repeats = spec["side"], spec["folder"], spec["batch_size"], spec["repeats"]
    extractor = get_extractor(EXTRACTOR).to(device)
    layer = extractor.default_layer
    images = _load_folder(folder)
    count = images.shape[0]
    extractor(images[:2], layers=[layer])  # warm-up: thread pools, convolution kernels
    result: dict[str, Any] = {"side": side, "images": count}
    if side == "bare":
        layout = torch.channels_last if extractor.channels_last else torch.contiguous_format
        batches = [
            extractor.preprocess(images[i : i + batch_size]).contiguous(memory_format=layout)
            for i in range(0, count, batch_size)
        ]

        def forward() -> None:
            with torch.inference_mode():
                for batch in batches:
                    extractor.model(batch)

        _, result["timing"] = best_of(forward, device, repeats)
        features = torch.cat([extractor.forward_preprocessed(batch, [layer])[layer] for batch in batches])
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            extractor.model(batches[0][:1])
        result["flops_per_image"] = counter.get_total_flops()
    elif side == "ganprobe":
        from ganprobe.features.extract import extract_features

        def run() -> Tensor:
            return extract_features(extractor, folder, layers=[layer], batch_size=batch_size)[layer]

        features, result["timing"] = best_of(run, device, repeats)
    else:
        from torchmetrics.image.fid import FrechetInceptionDistance

        preloaded = [images[i : i + batch_size].to(device) for i in range(0, count, batch_size)]
        feature = BackboneFeature(extractor, layer)

        def run() -> Tensor:
            metric = FrechetInceptionDistance(feature=feature).to(device)
            source = preloaded if side == "torchmetrics-preloaded" else _folder_batches(folder, batch_size)
            for batch in source:
                metric.update(batch.to(device), real=True)
            return metric.real_features_sum.clone()

        feature_sum, result["timing"] = best_of(run, device, repeats)
        features = None
        result["feature_sum"] = feature_sum.double().cpu().tolist()
    if features is not None:
        result["feature_sum"] = features.double().sum(0).cpu().tolist()
    result["images_per_second"] = count / result["timing"]["seconds"]
    return result


def _build_feature_extractor_class(extractor: Any) -> type:
    """A torch-fidelity ``FeatureExtractorBase`` subclass serving ``extractor``'s ``pool`` and ``logits``."""
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class GanprobeBackbone(FeatureExtractorBase):
        def __init__(self, name: str, features_list: list[str], **_kwargs: Any) -> None:
            super().__init__(name, features_list)
            self.backbone = extractor

        @staticmethod
        def get_provided_features_list() -> tuple[str, ...]:
            return ("pool", "logits")

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return "logits" if metric == "isc" else "pool"

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        def forward(self, images: Tensor) -> tuple[Tensor, ...]:
            features = self.backbone(images, layers=list(self.features_list))
            return tuple(features[name] for name in self.features_list)

    return GanprobeBackbone


def worker_evaluation(spec: dict[str, Any]) -> dict[str, Any]:
    """One side of the full-evaluation comparison: total seconds (extraction + compute) and FID/KID/IS values."""
    import importlib

    from ganprobe.extractors.registry import get_extractor

    # The separability protocols import scikit-learn on first use (seconds): not part of either side's cost.
    for module in ("sklearn.linear_model", "sklearn.model_selection", "sklearn.svm", "sklearn.cluster"):
        importlib.import_module(module)
    device = torch.device(spec["device"])
    side, real_dir, fake_dir, batch_size = spec["side"], spec["real"], spec["fake"], spec["batch_size"]
    count = int(spec["count"])
    # Every side gets ganprobe's extractor (same backbone, channels-last layout) except "torchmetrics-contiguous",
    # which gets the same network in the standard layout, as a user passing their own nn.Module would.
    extractor = get_extractor(EXTRACTOR, channels_last=side != "torchmetrics-contiguous").to(device)
    extractor(_load_folder(real_dir)[:2], layers=["pool", "logits"])  # warm-up
    kid_size, kid_subsets = count, int(spec["kid_subsets"])
    values: dict[str, float] = {}
    passes = 0
    original = extractor.forward_preprocessed

    def counting(*args: Any, **kwargs: Any) -> dict[str, Tensor]:
        nonlocal passes
        passes += 1
        return original(*args, **kwargs)

    extractor.forward_preprocessed = counting  # type: ignore[method-assign]

    def run() -> None:
        nonlocal passes
        passes = 0
        if side.startswith("evaluator"):
            from ganprobe.run.evaluator import Evaluator

            metrics = ["fid", "kid", "is"] if side == "evaluator-fid-kid-is" else None
            evaluator = Evaluator(extractor, metrics=metrics, seed=0, settings={"kid": {"subset_size": kid_size}})
            evaluator.add(real_dir, real=True, batch_size=batch_size)
            evaluator.add(fake_dir, real=False, batch_size=batch_size)
            result = evaluator.compute()
            values["fid"] = float(result["fid"])
            values["kid_mean"] = float(result["kid"]["kid"])
            values["is_mean"] = float(result["is"]["is"])
            values["metrics"] = len(result)
        elif side.startswith("torchmetrics"):
            from torchmetrics.image.fid import FrechetInceptionDistance
            from torchmetrics.image.inception import InceptionScore
            from torchmetrics.image.kid import KernelInceptionDistance

            pool = BackboneFeature(extractor, "pool")
            fid = FrechetInceptionDistance(feature=pool).to(device)
            kid = KernelInceptionDistance(feature=pool, subsets=kid_subsets, subset_size=kid_size).to(device)
            score = InceptionScore(feature=BackboneFeature(extractor, "logits"), splits=10).to(device)
            for metric, folders in ((fid, (real_dir, fake_dir)), (kid, (real_dir, fake_dir)), (score, (fake_dir,))):
                for folder in folders:
                    for batch in _folder_batches(folder, batch_size):
                        if metric is score:
                            metric.update(batch.to(device))
                        else:
                            metric.update(batch.to(device), real=folder == real_dir)
            values["fid"] = float(fid.compute())
            values["kid_mean"] = float(kid.compute()[0])
            torch.manual_seed(0)
            values["is_mean"] = float(score.compute()[0])
        else:
            import torch_fidelity
            from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

            name = "ganprobe-" + EXTRACTOR
            if name not in FEATURE_EXTRACTORS_REGISTRY:
                torch_fidelity.register_feature_extractor(name, _build_feature_extractor_class(extractor))
            result = torch_fidelity.calculate_metrics(
                input1=fake_dir,
                input2=real_dir,
                cuda=device.type == "cuda",
                fid=True,
                kid=True,
                isc=True,
                feature_extractor=name,
                kid_subset_size=kid_size,
                kid_subsets=kid_subsets,
                batch_size=batch_size,
                cache=False,
                verbose=False,
            )
            values["fid"] = float(result["frechet_inception_distance"])
            values["kid_mean"] = float(result["kernel_inception_distance_mean"])
            values["is_mean"] = float(result["inception_score_mean"])
        sync(device)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, timing = best_of(run, device, int(spec["repeats"]))
    return {"side": side, "images_per_set": count, "timing": timing, "values": values, "forward_passes": passes}


def batches_per_set(count: int, batch_size: int) -> int:
    """Forward passes one set of ``count`` images takes in batches of ``batch_size``."""
    return math.ceil(count / batch_size)


# --------------------------------------------------------------------------------------------------- sections


def section_extraction(args: Any, folders: tuple[Path, Path]) -> list[dict[str, Any]]:
    """Images/second from the folder against the bare backbone and torchmetrics' update; FLOPs vs matmul rate."""
    from measure import installed, row, run_worker

    matmul = run_worker(
        {"module": "extraction", "function": "worker_matmul", "n": args.matmul_n, "repeats": 5, "device": args.device},
        args.threads,
    )
    rows = [
        row(
            "extraction",
            f"float32 matmul {args.matmul_n} x {args.matmul_n}",
            "torch.matmul",
            matmul["seconds"],
            value=f"{matmul['gflops']:.1f} GFLOP/s",
            others=matmul["others_cpu_share"],
            data=matmul,
        )
    ]
    base = {
        "module": "extraction",
        "function": "worker_extraction",
        "folder": str(folders[0]),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "device": args.device,
    }
    sides = {
        "bare": "bare backbone forward (preloaded, preprocessed)",
        "ganprobe": "ganprobe extract_features(folder)",
        "torchmetrics-folder": "torchmetrics FID.update (decoded in a loop)",
        "torchmetrics-preloaded": "torchmetrics FID.update (preloaded uint8)",
    }
    results = {}
    case = f"{EXTRACTOR} on {args.images} PNGs of {args.image_size}px, batch {args.batch_size}"
    for side, label in sides.items():
        if side.startswith("torchmetrics") and not installed("torchmetrics"):
            rows.append(row("extraction", case, label, status="not installed"))
            continue
        results[side] = run_worker({**base, "side": side}, args.threads)
    bare = results["bare"]
    flops = bare["flops_per_image"]
    reference = torch.tensor(bare["feature_sum"], dtype=torch.float64)
    for side, label in sides.items():
        if side not in results:
            continue
        result = results[side]
        rate = result["images_per_second"]
        achieved = flops * rate / 1e9
        diff = float((torch.tensor(result["feature_sum"], dtype=torch.float64) - reference).norm() / reference.norm())
        rows.append(
            row(
                "extraction",
                case,
                label,
                result["timing"]["seconds"],
                ratio=rate / bare["images_per_second"],
                ratio_label="rate / bare backbone",
                rate=rate,
                check=diff <= 1e-5,
                value=f"{achieved:.1f} GFLOP/s = {achieved / matmul['gflops']:.0%} of matmul",
                note=f"feature sums rel diff {diff:.1e}"
                + (f"; {flops / 1e9:.3f} GFLOP/image" if side == "bare" else ""),
                others=result["timing"]["others_cpu_share"],
                data={"flops_per_image": flops, "gflops": achieved},
            )
        )
    return rows


def section_evaluation(args: Any, folders: tuple[Path, Path]) -> list[dict[str, Any]]:
    """The Evaluator (all metrics, one pass per set) against FID, KID and IS run separately, and torch-fidelity."""
    from measure import installed, relative, row, run_worker

    sides = {
        "evaluator": ("ganprobe", "ganprobe Evaluator, all metrics"),
        "evaluator-fid-kid-is": ("ganprobe", "ganprobe Evaluator, FID+KID+IS only"),
        "torchmetrics": ("torchmetrics", "torchmetrics FID, KID, IS separately (5 passes)"),
        "torchmetrics-contiguous": ("torchmetrics", "same, backbone in the standard memory layout"),
        "torch-fidelity": ("torch_fidelity", "torch-fidelity calculate_metrics (custom extractor)"),
    }
    base = {
        "module": "extraction",
        "function": "worker_evaluation",
        "real": str(folders[0]),
        "fake": str(folders[1]),
        "count": args.images,
        "batch_size": args.batch_size,
        "repeats": 1,
        "kid_subsets": 100,
        "device": args.device,
    }
    case = f"{EXTRACTOR}, {args.images} + {args.images} PNGs of {args.image_size}px, KID subset_size = N"
    results, rows = {}, []
    for side, (module, label) in sides.items():
        if module != "ganprobe" and not installed(module):
            rows.append(row("evaluation", case, label, status="not installed"))
            continue
        results[side] = run_worker({**base, "side": side}, args.threads)
    ours = results["evaluator"]
    for side, (_module, label) in sides.items():
        if side not in results:
            continue
        result = results[side]
        values = result["values"]
        reference = ours["values"]
        agree = (
            relative(values["fid"], reference["fid"]) <= 1e-4
            and relative(values["kid_mean"], reference["kid_mean"]) <= 1e-4
        )
        rows.append(
            row(
                "evaluation",
                case,
                label,
                result["timing"]["seconds"],
                ratio=result["timing"]["seconds"] / ours["timing"]["seconds"],
                ratio_label="this / Evaluator",
                value=f"FID {values['fid']:.4f}, KID {values['kid_mean']:.4e}, IS {values['is_mean']:.4f}",
                check=agree,
                note=f"{result['forward_passes']} backbone passes",
                others=result["timing"]["others_cpu_share"],
                data=values,
            )
        )
    return rows
