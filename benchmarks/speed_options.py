"""Speed options of the backbone forward: ``channels_last``, ``torch.compile``, bf16 autocast.

Each option runs in its own worker process on the default extractor's network (``efficientnet-lite0``), on the
preprocessed images of the benchmark's real and fake folders. It reports the forward's images/second against the
plain float32 run (same run, same machine), the one-time compile cost, and what the option does to the numbers:
the relative error of the pooled features (Frobenius norm of the difference over the norm of the float32 features)
and the relative change of FID between the two folders. An option is recommended *on* when it is faster by at least
``SPEED_GAIN`` and changes FID by at most ``FID_TOLERANCE`` (relative); *opt-in* when it is faster but changes FID
more; *off* otherwise.
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from measure import best_of, row, run_worker
from torch import Tensor, nn

OPTIONS = ("float32", "channels_last", "bf16-autocast", "compile", "channels_last+compile")
FID_TOLERANCE = 1e-3
FEATURE_TOLERANCE = 1e-3
SPEED_GAIN = 1.10


class PoolAndLogits(nn.Module):
    """EfficientNet-Lite's forward without hooks: ``(pooled features, logits)`` (hooks would defeat compile)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        m = self.model
        x = m.stem(x)
        for stage in m.stages:
            x = stage(x)
        pool = torch.flatten(m.avgpool(m.head(x)), 1)
        return pool, m.classifier(pool)


def worker_speed(spec: dict[str, Any]) -> dict[str, Any]:
    """One option: images/second of the forward over the real folder, compile seconds, features of both folders."""
    from extraction import EXTRACTOR, _load_folder

    from ganprobe.extractors.registry import get_extractor

    device = torch.device(spec["device"])
    option, batch_size = spec["option"], spec["batch_size"]
    extractor = get_extractor(EXTRACTOR, channels_last=False).to(device)  # each option sets its own layout
    net: nn.Module = PoolAndLogits(extractor.model).eval()
    memory_format = torch.channels_last if "channels_last" in option else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    sets = {}
    for label in ("real", "fake"):
        images = _load_folder(spec[label])
        sets[label] = [
            extractor.preprocess(images[i : i + batch_size]).contiguous(memory_format=memory_format)
            for i in range(0, images.shape[0], batch_size)
        ]
    if "compile" in option:
        net = torch.compile(net)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if option == "bf16-autocast" else nullcontext()

    def forward(batches: list[Tensor]) -> Tensor:
        with torch.inference_mode(), autocast:
            return torch.cat([net(batch)[0].float() for batch in batches])

    _, compile_timing = best_of(lambda: forward(sets["real"][:1]), device, 1)  # warm-up (compiles)
    if len(sets["real"][-1]) != len(sets["real"][0]):
        forward(sets["real"][-1:])  # a second shape compiles too: keep it out of the timed run
    features, timing = best_of(lambda: forward(sets["real"]), device, spec["repeats"])
    fake = forward(sets["fake"])
    torch.save({"real": features.cpu(), "fake": fake.cpu()}, spec["out"])
    count = sum(batch.shape[0] for batch in sets["real"])
    return {
        "option": option,
        "images": count,
        "first_call_seconds": compile_timing["seconds"],
        "images_per_second": count / timing["seconds"],
        **timing,
    }


def section_speed_options(args: Any, folders: tuple[Path, Path]) -> list[dict[str, Any]]:
    """Every option against plain float32: speed ratio, feature error, FID change, recommendation."""
    from ganprobe.functional.frechet import fid_from_features

    options = [o for o in OPTIONS if args.compile or "compile" not in o]
    results = {}
    with tempfile.TemporaryDirectory(prefix="ganprobe-bench-speed-") as scratch:
        for option in options:
            spec = {
                "module": "speed_options",
                "function": "worker_speed",
                "option": option,
                "device": args.device,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "real": str(folders[0]),
                "fake": str(folders[1]),
                "out": str(Path(scratch) / f"{option}.pt"),
            }
            try:
                results[option] = run_worker(spec, args.threads)
                results[option]["features"] = torch.load(spec["out"], weights_only=True)
            except RuntimeError as exc:
                results[option] = {"error": str(exc).strip().splitlines()[-1][:200]}
    base = results["float32"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few images: rank-deficient covariances (the value is still comparable)
        base_fid = float(fid_from_features(base["features"]["real"].double(), base["features"]["fake"].double()))
        rows = []
        case = f"backbone forward {EXTRACTOR_NAME}, {base['images']} images, batch {args.batch_size}"
        for option in options:
            result = results[option]
            if "error" in result:
                rows.append(row("speed_options", case, option, status="failed: " + result["error"]))
                continue
            feats = result["features"]
            error = float((feats["real"] - base["features"]["real"]).norm() / base["features"]["real"].norm())
            fid = float(fid_from_features(feats["real"].double(), feats["fake"].double()))
            fid_change = abs(fid - base_fid) / abs(base_fid)
            speed = result["images_per_second"] / base["images_per_second"]
            if option == "float32":
                verdict = "baseline"
            elif speed >= SPEED_GAIN and fid_change <= FID_TOLERANCE and error <= FEATURE_TOLERANCE:
                verdict = "recommend on"
            elif speed >= SPEED_GAIN:
                verdict = "opt-in (changes values)"
            else:
                verdict = "off (no gain)"
            rows.append(
                row(
                    "speed_options",
                    case,
                    option,
                    result["seconds"],
                    ratio=speed,
                    ratio_label="speed vs float32",
                    rate=result["images_per_second"],
                    value=f"FID {fid:.4f} (rel {fid_change:.1e}); features {error:.1e}",
                    note=f"{verdict}; first call {result['first_call_seconds']:.1f} s",
                    others=result["others_cpu_share"],
                    data={
                        "fid": fid,
                        "fid_relative_change": fid_change,
                        "feature_relative_error": error,
                        "first_call_seconds": result["first_call_seconds"],
                        "verdict": verdict,
                    },
                )
            )
    return rows


EXTRACTOR_NAME = "efficientnet-lite0"
