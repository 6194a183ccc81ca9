"""ganprobe metrics in a Lightning module, logged the idiomatic ways, equal an offline computation every epoch.

A tiny GAN on 8-d vectors trains for two epochs on CPU; its "images" are vectors, so the metrics take them as
precomputed features (``extractor=None``), which exercises the same Lightning paths as image metrics.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MetricCollection

from ganprobe import CMMD, FID, KID, KNNLOOAccuracy

lightning = pytest.importorskip("lightning.pytorch", reason="the lightning dev dependency")


class Collect(lightning.loggers.Logger):
    """A logger that keeps every logged row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []

    @property
    def name(self) -> str:
        return "collect"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append(dict(metrics))

    def values(self, key: str) -> list[float]:
        return [row[key] for row in self.rows if key in row]


class TinyGAN(lightning.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = nn.Linear(4, 8)
        self.discriminator = nn.Linear(8, 1)
        self.knn_loo = KNNLOOAccuracy(extractor=None)  # one output: self.log(name, metric)
        self.kid = KID(extractor=None, subset_size=16, num_subsets=4)  # several outputs: self.log_dict(compute())
        self.scores = MetricCollection({"fid": FID(extractor=None), "cmmd": CMMD(extractor=None)}, prefix="val/")
        self.seen: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []

    def configure_optimizers(self):  # noqa: ANN201
        return (
            torch.optim.Adam(self.generator.parameters(), lr=1e-2),
            torch.optim.Adam(self.discriminator.parameters(), lr=1e-2),
        )

    def on_train_epoch_start(self) -> None:
        self.seen.append(([], []))

    def training_step(self, batch: list[torch.Tensor], index: int) -> None:
        real = batch[0]
        opt_g, opt_d = self.optimizers()
        loss = nn.functional.binary_cross_entropy_with_logits
        fake = self.generator(torch.randn(real.shape[0], 4))
        ones, zeros = torch.ones(real.shape[0], 1), torch.zeros(real.shape[0], 1)
        d_loss = loss(self.discriminator(real), ones) + loss(self.discriminator(fake.detach()), zeros)
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        g_loss = loss(self.discriminator(fake), ones)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        fake = fake.detach()
        self.seen[-1][0].append(real)
        self.seen[-1][1].append(fake)
        for metric in (self.knn_loo, self.kid, self.scores):
            metric.update(real, real=True)
            metric.update(fake, real=False)
        self.log("knn_loo", self.knn_loo, on_step=False, on_epoch=True)
        self.log_dict(self.scores, on_step=False, on_epoch=True)

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.kid.compute())
        self.kid.reset()


def _fit_two_epochs(module: lightning.LightningModule, logger: Collect, data: TensorDataset) -> None:
    """Train ``module`` for two epochs on CPU, batches of 16, logging every step to ``logger``."""
    trainer = lightning.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, DataLoader(data, batch_size=16, shuffle=True))


def test_two_epochs_logged_values_equal_offline_and_states_reset() -> None:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(64, 8) * 2 + 1)
    module = TinyGAN()
    logger = Collect()
    _fit_two_epochs(module, logger, data)
    assert len(module.seen) == 2
    for key in ("knn_loo", "val/fid", "val/cmmd", "kid", "kid_std"):
        assert len(logger.values(key)) == 2, f"{key} logged {logger.values(key)}"
    for epoch, (reals, fakes) in enumerate(module.seen):
        real, fake = torch.cat(reals), torch.cat(fakes)  # this epoch's rows only: the states were reset
        offline = {
            "knn_loo": KNNLOOAccuracy(extractor=None),
            "val/fid": FID(extractor=None),
            "val/cmmd": CMMD(extractor=None),
            "kid": KID(extractor=None, subset_size=16, num_subsets=4),
        }
        expected = {}
        for key, metric in offline.items():
            metric.update(real, real=True)
            metric.update(fake, real=False)
            value = metric.compute()
            expected.update(value if isinstance(value, dict) else {key: value})
        for key, value in expected.items():
            assert logger.values(key)[epoch] == pytest.approx(float(value), rel=1e-5, abs=1e-7), (epoch, key)
    assert module.knn_loo._update_count == 0  # Lightning reset the logged metric after the last epoch


class LabelledGAN(lightning.LightningModule):
    """A class-conditional toy: each fake carries the label of the real it was drawn beside (its conditioning
    label); the metrics get ``labels=`` and log their per-class values at each epoch's end (``val/<value>/<class>``)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = nn.Linear(4 + 2, 8)
        self.knn_loo = KNNLOOAccuracy(extractor=None)
        self.fid = FID(extractor=None, keep_features=True)  # per-class FID needs the rows
        self.seen: list[list[tuple[torch.Tensor, ...]]] = []

    def configure_optimizers(self):  # noqa: ANN201
        return torch.optim.Adam(self.generator.parameters(), lr=1e-2)

    def on_train_epoch_start(self) -> None:
        self.seen.append([])

    def training_step(self, batch: list[torch.Tensor], index: int) -> None:
        real, labels = batch
        noise = torch.cat([torch.randn(real.shape[0], 4), nn.functional.one_hot(labels, 2).float()], dim=1)
        fake = self.generator(noise)
        loss = (fake.mean(0) - real.mean(0)).pow(2).sum()
        self.optimizers().zero_grad()
        self.manual_backward(loss)
        self.optimizers().step()
        fake = fake.detach()
        self.seen[-1].append((real, fake, labels))
        for metric in (self.knn_loo, self.fid):
            metric.update(real, real=True, labels=labels)
            metric.update(fake, real=False, labels=labels)

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.knn_loo.compute_per_class_dict("val/"))
        self.log_dict(self.fid.compute_per_class_dict("val/"))
        self.knn_loo.reset()
        self.fid.reset()


def test_per_class_values_are_logged_and_equal_offline() -> None:
    torch.manual_seed(0)
    labels = torch.arange(80) % 2
    data = TensorDataset(torch.randn(80, 8) + 3 * labels[:, None], labels)
    module, logger = LabelledGAN(), Collect()
    _fit_two_epochs(module, logger, data)
    keys = [f"val/{value}/{name}" for value in ("knn_loo", "knn_loo_balanced", "fid") for name in ("0", "1")]
    for key in keys:
        assert len(logger.values(key)) == 2, f"{key} logged {logger.values(key)}"
    for epoch, batches in enumerate(module.seen):
        real, fake, labels = (torch.cat(parts) for parts in zip(*batches, strict=True))
        for metric in (KNNLOOAccuracy(extractor=None), FID(extractor=None, keep_features=True)):
            for name in ("0", "1"):  # the class-blind metric on the class's rows of this epoch alone
                rows = labels == int(name)
                metric.update(real[rows], real=True)
                metric.update(fake[rows], real=False)
                key = f"val/{metric.name}/{name}"
                assert logger.values(key)[epoch] == pytest.approx(float(metric.compute()), rel=1e-6), (epoch, key)
                metric.reset()
