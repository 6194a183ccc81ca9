"""The one training loop every reference trainer shares.

A trainer describes its GAN as a :class:`GAN` (networks, optimisers, two loss closures, a noise sampler) and calls
:func:`train`. Each step runs ``d_steps`` discriminator updates, then one generator update. Around that the loop
logs mean losses every ``log_every`` steps, saves a sample grid every ``grid_every`` epochs, and every
``eval_every`` steps scores fixed-noise samples with the :class:`~gan.monitor.MetricMonitor`, keeps the checkpoint
whose 1-NN accuracy is closest to 0.5 (``best.pt``), and stops early after ``patience`` evaluations without
improvement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gan import outputs
from gan.data import ImageData, epoch_batches, to_unit
from gan.monitor import MetricMonitor
from gan.progress import SHOWN_METRICS, TrainingProgress, format_values

# (real images in [-1, 1], labels or None, progress in [0, 1]) -> {"d_loss": loss to minimise, other logged terms}
DiscriminatorLoss = Callable[[Tensor, Tensor | None, float], dict[str, Tensor]]
# (batch size, labels or None, progress in [0, 1]) -> {"g_loss": loss to minimise, other logged terms}
GeneratorLoss = Callable[[int, Tensor | None, float], dict[str, Tensor]]


@dataclass
class GAN:
    """Everything the loop needs to know about one GAN.

    Attributes:
        generator, discriminator: the networks (already on the device).
        g_optimizer, d_optimizer: their optimisers.
        d_loss: closure computing the discriminator's loss on a real batch (it samples its own fakes).
        g_loss: closure computing the generator's loss for a batch size.
        sample: ``(noise, labels or None) -> images in [-1, 1]``: how to turn fixed noise into images (conditional
            GANs use the labels).
        noise: ``(n, torch.Generator) -> latent batch (CPU)``: the latent distribution, drawn from a given generator.
        num_classes: classes of a conditional GAN (0: unconditional).
        extra_metrics: called at each evaluation; its values join the metric log (e.g. a held-out class accuracy).
    """

    generator: nn.Module
    discriminator: nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer
    d_loss: DiscriminatorLoss
    g_loss: GeneratorLoss
    sample: Callable[[Tensor, Tensor | None], Tensor]
    noise: Callable[[int, torch.Generator], Tensor]
    num_classes: int = 0
    extra_metrics: Callable[[], dict[str, float]] | None = None


@dataclass
class LoopConfig:
    """Schedule of one run (every trainer exposes these as command-line flags).

    Attributes:
        out: output folder.
        steps: generator updates.
        batch_size: real images per discriminator update.
        d_steps: discriminator updates per generator update.
        log_every: steps per row of ``losses.csv`` (mean losses over the window).
        eval_every: steps between metric evaluations (the last step is always evaluated).
        eval_samples: real (and as many generated) images per evaluation; the trainer builds the monitor with them.
        grid_every: epochs between sample grids (every epoch by default).
        grid_size: images per grid.
        grid_nrow: images per grid row (0: a square grid; a conditional GAN uses its class count, one class per
            column).
        grid_classes: class names of a conditional GAN whose grid shows one class per column: the grids are then
            drawn with each column captioned by its class and titled with the epoch (empty: a plain image grid).
        patience: stop after this many evaluations without a better 1-NN accuracy (0: never stop early).
        seed: seed of the networks' initialisation, batches, noise and metrics.
        device: torch device.
    """

    out: Path
    steps: int
    batch_size: int
    d_steps: int = 1
    log_every: int = 50
    eval_every: int = 250
    eval_samples: int = 1000
    grid_every: int = 1
    grid_size: int = 64
    grid_nrow: int = 0
    grid_classes: tuple[str, ...] = ()
    patience: int = 0
    seed: int = 0
    device: str = "cpu"


@dataclass
class RunResult:
    """What :func:`train` did.

    Attributes:
        steps: generator updates done.
        losses: rows of ``losses.csv``.
        metrics: rows of ``metrics.csv`` (one per evaluation).
        best: the metric row of the best checkpoint (1-NN accuracy closest to 0.5), or ``None``.
        stopped_early: whether ``patience`` ended the run.
        seconds: wall-clock seconds of training and of evaluation.
        files: name -> path of every file written.
    """

    steps: int
    losses: list[dict[str, float]]
    metrics: list[dict[str, float]]
    best: dict[str, float] | None
    stopped_early: bool
    seconds: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)


def _checkpoint(gan: GAN, step: int, epoch: int, row: dict[str, float] | None) -> dict[str, Any]:
    return {
        "generator": gan.generator.state_dict(),
        "discriminator": gan.discriminator.state_dict(),
        "g_optimizer": gan.g_optimizer.state_dict(),
        "d_optimizer": gan.d_optimizer.state_dict(),
        "step": step,
        "epoch": epoch,
        "metrics": dict(row or {}),
    }


@torch.no_grad()
def generate(gan: GAN, noise: Tensor, labels: Tensor | None, batch_size: int = 256) -> Tensor:
    """Images in ``[-1, 1]`` from fixed ``noise`` (generator in eval mode, its training mode restored after)."""
    was_training = gan.generator.training
    gan.generator.eval()
    try:
        chunks = []
        for start in range(0, noise.shape[0], batch_size):
            chunk_labels = None if labels is None else labels[start : start + batch_size]
            chunks.append(gan.sample(noise[start : start + batch_size], chunk_labels))
        return torch.cat(chunks)
    finally:
        gan.generator.train(was_training)


def fixed_inputs(gan: GAN, count: int, seed: int, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Seeded noise (and class labels cycling 0, 1, ..., for a conditional GAN) reused at every evaluation."""
    generator = torch.Generator().manual_seed(seed)
    noise = gan.noise(count, generator).to(device)
    labels = torch.arange(count, device=device) % gan.num_classes if gan.num_classes else None
    return noise, labels


def save_samples(images: Tensor, path: Path, nrow: int, config: LoopConfig, when: str) -> Path:
    """A sample grid: captioned by class (one class per column) when ``config.grid_classes`` names them."""
    if not config.grid_classes:
        return outputs.save_grid(images, path, nrow)
    captions = [config.grid_classes[i % nrow] if i < nrow else "" for i in range(len(images))]
    title = f"Generator samples {when} (one class per column, fixed noise)"
    return outputs.save_labelled_grid(images, captions, path, title, ncol=nrow)


def _better(row: dict[str, float], best: dict[str, float] | None) -> bool:
    return best is None or abs(row["knn_loo"] - 0.5) < abs(best["knn_loo"] - 0.5)


def train(
    gan: GAN, data: ImageData, config: LoopConfig, monitor: MetricMonitor | None, run_info: dict[str, Any]
) -> RunResult:
    """Train ``gan`` on ``data`` and write the run's files under ``config.out``.

    Args:
        gan: the networks, optimisers and losses.
        data: training images (labels are passed to the losses when present).
        config: the schedule.
        monitor: scores samples with ganprobe metrics every ``eval_every`` steps (``None``: no metrics).
        run_info: the trainer's settings, stored in ``log.json``.

    Returns:
        A :class:`RunResult`. Files: ``losses.csv``, ``metrics.csv``, ``log.json``, ``samples/epoch_XXXX.png``,
        ``samples/final.png``, ``plots/{losses,metrics,separability}.png``, ``checkpoints/{last,best}.pt``.
    """
    out, device = Path(config.out), torch.device(config.device)
    out.mkdir(parents=True, exist_ok=True)
    # As many fakes as the monitor holds reals: 1-NN accuracy's 0.5 baseline needs balanced sets.
    eval_count = monitor.real_images.shape[0] if monitor is not None else config.grid_size
    eval_noise, eval_labels = fixed_inputs(gan, max(eval_count, config.grid_size), config.seed + 1, device)
    grid_noise, grid_labels = (
        eval_noise[: config.grid_size],
        None if eval_labels is None else eval_labels[: config.grid_size],
    )
    batches = epoch_batches(data, config.batch_size, config.seed, device)
    losses: list[dict[str, float]] = []
    metrics: list[dict[str, float]] = []
    window: dict[str, Tensor] = {}
    best: dict[str, float] | None = None
    stale, stopped_early, epoch = 0, False, 0
    seconds = {"train": 0.0, "evaluate": 0.0}
    files: dict[str, Path] = {}
    nrow = config.grid_nrow or max(1, round(config.grid_size**0.5))
    mark = time.perf_counter()
    step = 0
    interrupted = False
    with TrainingProgress(config.steps, description="training") as bar:
        try:
            for step in range(1, config.steps + 1):
                progress = (step - 1) / max(config.steps - 1, 1)
                terms: dict[str, Tensor] = {}
                epoch_end = False
                for _ in range(config.d_steps):
                    epoch, real, labels, last = next(batches)
                    epoch_end = epoch_end or last
                    gan.d_optimizer.zero_grad(set_to_none=True)
                    terms.update(gan.d_loss(real, labels, progress))
                    terms["d_loss"].backward()
                    gan.d_optimizer.step()
                gan.g_optimizer.zero_grad(set_to_none=True)
                terms.update(gan.g_loss(config.batch_size, labels, progress))
                terms["g_loss"].backward()
                gan.g_optimizer.step()
                for key, value in terms.items():
                    window[key] = window.get(key, torch.zeros((), device=device)) + value.detach()
                if step % config.log_every == 0 or step == config.steps:
                    count = (step - 1) % config.log_every + 1
                    means = torch.stack(list(window.values())).div(count).cpu().tolist()  # one host sync per log row
                    losses.append({"step": step, "epoch": epoch, **dict(zip(window, means, strict=True))})
                    window = {}
                    bar.update(step, losses=losses[-1])
                else:
                    bar.update(step)
                if epoch_end and (epoch + 1) % config.grid_every == 0:
                    path = out / "samples" / f"epoch_{epoch + 1:04d}.png"
                    images = generate(gan, grid_noise, grid_labels)
                    files["grid"] = save_samples(images, path, nrow, config, f"after epoch {epoch + 1}")
                if monitor is not None and (step % config.eval_every == 0 or step == config.steps):
                    seconds["train"] += time.perf_counter() - mark
                    mark = time.perf_counter()
                    labels_now = None if eval_labels is None else eval_labels[:eval_count]
                    fake = to_unit(generate(gan, eval_noise[:eval_count], labels_now))
                    row = {"step": float(step), "epoch": float(epoch), **monitor.evaluate(fake)}
                    if gan.extra_metrics is not None:
                        row.update(gan.extra_metrics())
                    row["seconds"] = seconds["train"]
                    metrics.append(row)
                    if _better(row, best):
                        best, stale = row, 0
                        files["best"] = outputs.save_checkpoint(
                            _checkpoint(gan, step, epoch, row), out / "checkpoints" / "best.pt"
                        )
                    else:
                        stale += 1
                    bar.update(step, metrics=row)
                    bar.print(f"step {step:6d}  {format_values(row, SHOWN_METRICS)}  (best 1-NN {best['knn_loo']:.3f})")
                    # Both CSVs are rewritten at each evaluation: watch a run as it goes.
                    outputs.write_csv(losses, out / "losses.csv")
                    outputs.write_csv(metrics, out / "metrics.csv")
                    seconds["evaluate"] += time.perf_counter() - mark
                    mark = time.perf_counter()
                    if config.patience and stale >= config.patience:
                        stopped_early = True
                        break
        except KeyboardInterrupt:  # Ctrl-C: stop training but still write checkpoints, logs and plots
            interrupted = True
            bar.print(f"interrupted at step {step}; writing the run's files")
    seconds["train"] += time.perf_counter() - mark
    final = generate(gan, grid_noise, grid_labels)
    files["final_grid"] = save_samples(final, out / "samples" / "final.png", nrow, config, f"at step {step}")
    files["last"] = outputs.save_checkpoint(
        _checkpoint(gan, step, epoch, metrics[-1] if metrics else None), out / "checkpoints" / "last.pt"
    )
    files["losses_csv"] = outputs.write_csv(losses, out / "losses.csv")
    files["losses_plot"] = outputs.plot_losses(losses, out / "plots" / "losses.png")
    if metrics:
        space = monitor.space if monitor is not None else ""
        files["metrics_csv"] = outputs.write_csv(metrics, out / "metrics.csv")
        files["metrics_plot"] = outputs.plot_metrics(metrics, out / "plots" / "metrics.png", space)
        files["separability_plot"] = outputs.plot_separability(metrics, out / "plots" / "separability.png")
    result = RunResult(step, losses, metrics, best, stopped_early, seconds, files)
    log = {
        "run": run_info,
        "loop": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "steps_done": step,
        "stopped_early": stopped_early,
        "interrupted": interrupted,
        "seconds": seconds,
        "best": best,
        "losses": losses,
        "metrics": metrics,
    }
    files["log_json"] = outputs.write_json(log, out / "log.json")
    return result
