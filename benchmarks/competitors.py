"""Metric computation on precomputed features: ganprobe against torchmetrics, torch-fidelity, clean-fid, scikit-learn.

Sections of ``benchmarks/run.py`` (every side in a fresh worker process, same seeded inputs on both sides):

* ``fid_kid``: FID from raw features (torchmetrics ``update + compute``, ganprobe ``FID`` metric and
  ``fid_from_features``, torch-fidelity's ``fid_features_to_statistics`` + ``fid_statistics_to_metric``, clean-fid's
  ``fid_from_feats``), and KID (torchmetrics, ganprobe ``kid``, torch-fidelity ``kid_features_to_metric``, clean-fid
  ``kernel_distance``). FID values must agree within 1e-5. KID subsets are drawn by each library's own RNG, so the
  timed values differ by sampling (torchmetrics draws ganprobe's subsets); an extra check with
  ``subset_size = N`` (every subset is the whole set) must agree within 1e-6 across all libraries.
* ``knn_loo``: ``benchmarks/knn_loo.py``'s comparison (ganprobe vs scikit-learn ``LeaveOneOut`` and one
  ``kneighbors`` query), same correct count required.
* ``separability``: each ``LayerSeparability`` protocol against the plain scikit-learn pipeline it replaces; same
  accuracy required.
"""

from __future__ import annotations

import warnings
from typing import Any

import knn_loo as knn_bench
import numpy as np
import scores as scores_bench
import torch
from measure import best_of, installed, relative, row, run_worker

FID_TOLERANCE = 1e-5
KID_TOLERANCE = 1e-6
KID_CHECK_N = 300


# --------------------------------------------------------------------------------------------------- workers


def worker_fid(spec: dict[str, Any]) -> dict[str, Any]:
    """One FID side; torchmetrics/ganprobe sides reuse ``benchmarks/scores.py``'s worker."""
    side, n, dim = spec["side"], spec["n"], spec["dim"]
    if side in ("torchmetrics", "ganprobe-metric", "ganprobe-functional"):
        return scores_bench.worker_fid(spec)
    device = torch.device("cpu")  # both competitors compute in numpy
    real, fake = scores_bench.make_features(n, dim, torch.float32)
    warm_real, warm_fake = scores_bench.make_features(256, 64, torch.float32)
    if side == "torch-fidelity":
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

        def run(first: torch.Tensor, second: torch.Tensor) -> float:
            stats = fid_features_to_statistics(first), fid_features_to_statistics(second)
            return fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]

    else:
        from cleanfid.fid import fid_from_feats

        def run(first: torch.Tensor, second: torch.Tensor) -> float:
            return float(fid_from_feats(first.numpy(), second.numpy()))

    run(warm_real, warm_fake)
    value, timing = best_of(lambda: run(real, fake), device, spec["repeats"])
    return {"side": side, "n": n, "dim": dim, "update": None, "compute": timing, "value": float(value)}


def _kid_competitor(side: str, real: torch.Tensor, fake: torch.Tensor, subsets: int, size: int, seed: int) -> tuple:
    if side == "torch-fidelity":
        from torch_fidelity.metric_kid import kid_features_to_metric

        out = kid_features_to_metric(
            real, fake, kid_subsets=subsets, kid_subset_size=size, verbose=False, rng_seed=seed
        )
        return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]
    from cleanfid.fid import kernel_distance

    np.random.seed(seed)  # clean-fid draws its subsets from numpy's global generator
    return kernel_distance(real.numpy(), fake.numpy(), num_subsets=subsets, max_subset_size=size), None


def worker_kid(spec: dict[str, Any]) -> dict[str, Any]:
    """One KID side: the timed run (each library's own subsets) and the ``subset_size = N`` equality check."""
    side, seed = spec["side"], spec["seed"]
    check_spec = {**spec, "n": spec["check_n"], "subset_size": spec["check_n"], "subsets": 3, "repeats": 1}
    if side in ("torchmetrics", "ganprobe-functional", "ganprobe-metric"):
        result = scores_bench.worker_kid(spec)
        check = scores_bench.worker_kid(check_spec)
        result["check"] = [check["mean"], check["std"]]
        return result
    real, fake = scores_bench.make_features(spec["n"], spec["dim"], torch.float64)
    warm = scores_bench.make_features(128, 64, torch.float64)
    _kid_competitor(side, *warm, 3, 64, seed)
    (mean, std), timing = best_of(
        lambda: _kid_competitor(side, real, fake, spec["subsets"], spec["subset_size"], seed),
        torch.device("cpu"),
        spec["repeats"],
    )
    small = scores_bench.make_features(spec["check_n"], spec["dim"], torch.float64)
    check = _kid_competitor(side, *small, 3, spec["check_n"], seed)
    return {
        "side": side,
        "mean": float(mean),
        "std": None if std is None else float(std),
        "check": list(check),
        **timing,
    }


def worker_knn(spec: dict[str, Any]) -> dict[str, Any]:
    """One KNN-LOO side at one N: ganprobe (``knn_loo.run_ganprobe``) or a scikit-learn baseline."""
    n, dim, side = spec["n"], spec["dim"], spec["side"]
    if side == "ganprobe":
        return knn_bench.run_ganprobe(n, dim, 1, spec["device"], None)
    x, y = knn_bench.pooled_numpy(*knn_bench.make_features(n, dim))
    import sklearn.model_selection  # noqa: F401 - imported before the clock starts
    import sklearn.neighbors  # noqa: F401

    runner = knn_bench.run_sklearn_loo if side == "sklearn-loo" else knn_bench.run_sklearn_smart
    return runner(x, y, 1)


PROTOCOLS = ("linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans")


def _sklearn_protocols(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneOut, StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    def kmeans() -> float:
        clusters = make_pipeline(PCA(2, svd_solver="full"), KMeans(2, n_init=10, random_state=seed)).fit_predict(x)
        agreement = float(np.mean(clusters == y))
        return max(agreement, 1 - agreement)

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return {
        "linear_probe": lambda: float(cross_val_score(probe, x, y, cv=folds).mean()),
        "knn_loo": lambda: float(cross_val_score(KNeighborsClassifier(1), x, y, cv=LeaveOneOut()).mean()),
        "pca2_svm": lambda: float(
            make_pipeline(PCA(2, svd_solver="full"), SVC(C=1.0, gamma=0.5)).fit(x, y).score(x, y)
        ),
        "pca2_kmeans": kmeans,
    }


def worker_separability(spec: dict[str, Any]) -> dict[str, Any]:
    """Every separability protocol on one side (ganprobe functions or plain scikit-learn pipelines)."""
    import importlib

    sep = importlib.import_module("ganprobe.functional.separability")  # the package re-exports a same-named function

    real, fake = knn_bench.make_features(spec["n"], spec["dim"])
    x, y = sep._pooled(real, fake)
    seed = 0
    if spec["side"] == "ganprobe":
        runners = {
            "linear_probe": lambda: sep.linear_probe_accuracy(real, fake, folds=5, seed=seed),
            "knn_loo": lambda: float(sep.knn_loo_accuracy(real, fake, k=1)),
            "pca2_svm": lambda: sep.pca2_svm_accuracy(real, fake),
            "pca2_kmeans": lambda: sep.pca2_kmeans_accuracy(real, fake, seed=seed),
        }
    else:
        runners = _sklearn_protocols(x, y, seed)
    small_real, small_fake = knn_bench.make_features(40, spec["dim"])
    if spec["side"] == "ganprobe":
        sep.separability(small_real, small_fake)  # warm-up (imports scikit-learn's modules)
    else:
        for call in _sklearn_protocols(*sep._pooled(small_real, small_fake), seed).values():
            call()
    out: dict[str, Any] = {"side": spec["side"], "n": spec["n"], "protocols": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for protocol in PROTOCOLS:
            repeats = 1 if (protocol == "knn_loo" and spec["side"] == "sklearn") else spec["repeats"]
            value, timing = best_of(runners[protocol], torch.device("cpu"), repeats)
            out["protocols"][protocol] = {"value": float(value), **timing}
    return out


# --------------------------------------------------------------------------------------------------- sections

FID_SIDES = {
    "ganprobe-metric": ("ganprobe", "ganprobe FID (update + compute)"),
    "ganprobe-functional": ("ganprobe", "ganprobe fid_from_features"),
    "torchmetrics": ("torchmetrics", "torchmetrics FrechetInceptionDistance"),
    "torch-fidelity": ("torch_fidelity", "torch-fidelity fid_features_to_statistics + _to_metric"),
    "clean-fid": ("cleanfid", "clean-fid fid_from_feats"),
}
KID_SIDES = {
    "ganprobe-functional": ("ganprobe", "ganprobe kid"),
    "ganprobe-metric": ("ganprobe", "ganprobe KID (metric)"),
    "torchmetrics": ("torchmetrics", "torchmetrics KernelInceptionDistance"),
    "torch-fidelity": ("torch_fidelity", "torch-fidelity kid_features_to_metric"),
    "clean-fid": ("cleanfid", "clean-fid kernel_distance (mean only)"),
}


def _others(*timings: dict[str, Any] | None) -> float | None:
    shares = [t["others_cpu_share"] for t in timings if t and t.get("others_cpu_share") is not None]
    return max(shares) if shares else None


def section_fid_kid(args: Any) -> list[dict[str, Any]]:
    """FID and KID from precomputed features against every installed competitor; rows with values and checks."""
    rows = []
    common = {"module": "competitors", "device": args.device, "seed": 0, "repeats": args.repeats}
    case = f"FID from features, N={args.fid_n:,} + {args.fid_n:,}, D={args.fid_dim}"
    results: dict[str, dict[str, Any]] = {}
    for side, (module, label) in FID_SIDES.items():
        if module != "ganprobe" and not installed(module):
            rows.append(row("fid_kid", case, label, status="not installed"))
            continue
        spec = {**common, "function": "worker_fid", "side": side, "n": args.fid_n, "dim": args.fid_dim}
        results[side] = result = run_worker(spec, args.threads)
        result["total"] = result["compute"]["seconds"] + (result["update"]["seconds"] if result["update"] else 0)
    reference = results["ganprobe-metric"]
    for side, (_module, label) in FID_SIDES.items():
        if side not in results:
            continue
        result = results[side]
        diff = relative(result["value"], reference["value"])
        note = f"compute only {result['compute']['seconds']:.3f} s" if result["update"] else ""
        rows.append(
            row(
                "fid_kid",
                case,
                label,
                result["total"],
                ratio=result["total"] / reference["total"],
                ratio_label="this / ganprobe FID",
                value=f"{result['value']:.6f} (rel {diff:.1e})",
                check=diff <= FID_TOLERANCE,
                note=note,
                others=_others(result["compute"], result["update"]),
                data={"value": result["value"], "compute_seconds": result["compute"]["seconds"]},
            )
        )

    case = (
        f"KID, N={args.kid_n:,} + {args.kid_n:,}, D={args.fid_dim}, {args.kid_subsets} subsets of "
        f"{args.kid_subset_size:,} (float64)"
    )
    check_n = min(KID_CHECK_N, args.kid_n)
    kid_results: dict[str, dict[str, Any]] = {}
    for side, (module, label) in KID_SIDES.items():
        if module != "ganprobe" and not installed(module):
            rows.append(row("fid_kid", case, label, status="not installed"))
            continue
        spec = {
            **common,
            "function": "worker_kid",
            "side": side,
            "n": args.kid_n,
            "dim": args.fid_dim,
            "subsets": args.kid_subsets,
            "subset_size": args.kid_subset_size,
            "check_n": check_n,
        }
        if side == "torchmetrics":
            spec["repeats"] = 1  # slow
        kid_results[side] = run_worker(spec, args.threads)
    reference = kid_results["ganprobe-functional"]
    for side, (_module, label) in KID_SIDES.items():
        if side not in kid_results:
            continue
        result = kid_results[side]
        check_diff = relative(result["check"][0], reference["check"][0])
        std = "-" if result["std"] is None else f"{result['std']:.3e}"
        rows.append(
            row(
                "fid_kid",
                case,
                label,
                result["seconds"],
                ratio=result["seconds"] / reference["seconds"],
                ratio_label="this / ganprobe kid",
                value=f"{result['mean']:.6e} ± {std}",
                check=check_diff <= KID_TOLERANCE,
                others=result.get("others_cpu_share"),
                note=f"subset_size=N={check_n} check: {result['check'][0]:.9e} (rel {check_diff:.1e})",
                data={"mean": result["mean"], "std": result["std"], "check_mean": result["check"][0]},
            )
        )
    return rows


def section_knn_loo(args: Any) -> list[dict[str, Any]]:
    """KNN-LOO accuracy: ganprobe against scikit-learn's LeaveOneOut loop and one ``kneighbors`` query."""
    rows = []
    for n in args.knn_sizes:
        case = f"KNN-LOO accuracy (k=1), N={n:,}, D={args.knn_dim}"
        base = {"module": "competitors", "function": "worker_knn", "n": n, "dim": args.knn_dim, "device": args.device}
        ours = run_worker({**base, "side": "ganprobe"}, args.threads)
        rows.append(
            row(
                "knn_loo",
                case,
                "ganprobe KNNLOOAccuracy",
                ours["seconds"],
                ratio=1.0,
                ratio_label="this / ganprobe",
                value=f"{ours['accuracy']:.4f}",
                others=ours["others_cpu_share"],
                peak_bytes=ours["peak_bytes"],
            )
        )
        for side, label, max_n in (
            ("sklearn-loo", "sklearn cross_val_score(LeaveOneOut)", args.sklearn_loo_max_n),
            ("sklearn-smart", "sklearn one kneighbors() query", 10_000),
        ):
            if n > max_n:
                rows.append(row("knn_loo", case, label, status=f"skipped (N > {max_n:,})"))
                continue
            theirs = run_worker({**base, "side": side}, args.threads)
            rows.append(
                row(
                    "knn_loo",
                    case,
                    label,
                    theirs["seconds"],
                    ratio=theirs["seconds"] / ours["seconds"],
                    ratio_label="this / ganprobe",
                    value=f"{theirs['accuracy']:.4f}",
                    check=theirs["correct"] == ours["correct"],
                    others=theirs["others_cpu_share"],
                )
            )
    return rows


def section_separability(args: Any) -> list[dict[str, Any]]:
    """LayerSeparability's protocols against the plain scikit-learn pipelines, on one seeded feature set."""
    rows = []
    base = {
        "module": "competitors",
        "function": "worker_separability",
        "n": args.sep_n,
        "dim": args.sep_dim,
        "repeats": args.repeats,
        "device": args.device,
    }
    sides = {side: run_worker({**base, "side": side}, args.threads) for side in ("ganprobe", "sklearn")}
    for protocol in PROTOCOLS:
        case = f"separability {protocol}, N={args.sep_n:,}, D={args.sep_dim}"
        ours = sides["ganprobe"]["protocols"][protocol]
        for side, label in (("ganprobe", f"ganprobe {protocol}"), ("sklearn", "plain scikit-learn pipeline")):
            m = sides[side]["protocols"][protocol]
            rows.append(
                row(
                    "separability",
                    case,
                    label,
                    m["seconds"],
                    ratio=m["seconds"] / ours["seconds"],
                    ratio_label="this / ganprobe",
                    value=f"{m['value']:.4f}",
                    check=None if side == "ganprobe" else abs(m["value"] - ours["value"]) < 1e-12,
                    others=m["others_cpu_share"],
                )
            )
    return rows
