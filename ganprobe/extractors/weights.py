"""Where extractor weights come from, and how they are checked before use.

One place resolves every weights file, in this order:

1. an explicit ``weights_path`` argument (the file must exist);
2. ``$GANPROBE_WEIGHTS_DIR/<filename>`` (a folder you fill by hand on an offline machine);
3. ganprobe's cache, ``$GANPROBE_CACHE_DIR/weights/<filename>`` (default ``~/.cache/ganprobe/weights``);
4. torch hub's checkpoint folder (``torch.hub.get_dir()/checkpoints``), where torchvision keeps its downloads;
5. a download from the published URL into ganprobe's cache, unless ``GANPROBE_OFFLINE=1``.

Every file's SHA-256 is checked against the published checksum (the full digest, or the 8+ hex digit prefix that
torch hub file names carry) before it is loaded, and loading uses ``torch.load(..., weights_only=True)`` so no
pickled code is ever executed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from ganprobe.errors import WeightsChecksumError, WeightsFormatError, WeightsNotFoundError

WEIGHTS_DIR_ENV = "GANPROBE_WEIGHTS_DIR"
CACHE_DIR_ENV = "GANPROBE_CACHE_DIR"
OFFLINE_ENV = "GANPROBE_OFFLINE"
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: its file name, where it can be downloaded, and its SHA-256 (or a hex prefix)."""

    filename: str
    url: str | None
    sha256: str


def cache_dir() -> Path:
    """The cache folder: ``$GANPROBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganprobe``, else ``~/.cache/ganprobe``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base).expanduser() / "ganprobe"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: Path, expected: str) -> str:
    """Check ``path`` against ``expected`` (full digest or prefix); return the full digest or raise."""
    actual = sha256_file(path)
    if not actual.startswith(expected.lower()):
        raise WeightsChecksumError(
            f"{path}: SHA-256 {actual[:16]}... does not match the published {expected}; the file is corrupt or is "
            "other weights: delete it and supply the original (or pass verify_checksum=False for your own weights)"
        )
    return actual


def checked_digest(path: Path, expected: str, verify: bool = True) -> str:
    """Return the file's full SHA-256, checked against ``expected`` (digest or prefix) when ``verify``."""
    return verify_checksum(path, expected) if verify else sha256_file(path)


def _candidates(spec: WeightsFile) -> Iterable[Path]:
    if os.environ.get(WEIGHTS_DIR_ENV):
        yield Path(os.environ[WEIGHTS_DIR_ENV]).expanduser() / spec.filename
    yield cache_dir() / "weights" / spec.filename
    yield Path(torch.hub.get_dir()) / "checkpoints" / spec.filename


def find_local(spec: WeightsFile) -> Path | None:
    """The first existing copy of ``spec`` in the search folders (steps 2-4 of the module docstring), or ``None``.

    Nothing is downloaded and no checksum is computed.
    """
    return next((path for path in _candidates(spec) if path.is_file()), None)


def _download(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically (temporary file in the same folder, then rename)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=destination.name + ".", suffix=".part", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        os.replace(tmp_name, destination)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def resolve_weights(
    spec: WeightsFile, weights_path: str | os.PathLike[str] | None = None, verify: bool = True
) -> tuple[Path, str]:
    """Find (or download) a weights file and check it.

    Args:
        spec: the published file.
        weights_path: an explicit file to use instead of searching.
        verify: compare the file's SHA-256 with ``spec.sha256`` (turn off only for your own weights).

    Returns:
        ``(path, sha256)``: the file to load and its full hex digest (part of every cache key).

    Raises:
        WeightsNotFoundError: the file is nowhere here and cannot be downloaded; the message names the exact file
            and how to supply it offline.
        WeightsChecksumError: the file found does not match the published checksum.
    """
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"weights_path {str(path)!r} does not exist or is not a file")
        return path, checked_digest(path, spec.sha256, verify)

    searched = list(_candidates(spec))
    for path in searched:
        if path.is_file():
            return path, checked_digest(path, spec.sha256, verify)

    target = cache_dir() / "weights" / spec.filename
    hint = (
        f"download {spec.url or spec.filename} on a machine with internet and put it in ${WEIGHTS_DIR_ENV} "
        + (f"as {spec.filename} " if spec.url and not spec.url.endswith("/" + spec.filename) else "")
        + f"(or pass weights_path=...); looked in: {', '.join(str(p.parent) for p in searched)}"
    )
    if spec.url is None:
        raise WeightsNotFoundError(f"weights file {spec.filename!r} not found and has no download URL: {hint}")
    if os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        raise WeightsNotFoundError(f"weights file {spec.filename!r} not found and {OFFLINE_ENV} is set: {hint}")
    # Download under a staging name and check it before it takes the real name, so a wrong download (a proxy's
    # login page, say) never sits in the cache looking like weights.
    staging = target.with_name(target.name + ".download")
    try:
        _download(spec.url, staging)
        digest = checked_digest(staging, spec.sha256, verify)
        os.replace(staging, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsNotFoundError(
            f"weights file {spec.filename!r} not found and the download failed ({reason}): {hint}"
        ) from None
    finally:
        if staging.exists():
            staging.unlink()
    return target, digest


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a state dict with ``torch.load(weights_only=True)``; raise :class:`WeightsFormatError` for anything else.

    Args:
        path: a ``.pth``/``.pt`` file holding a mapping from parameter names to tensors.

    Returns:
        The mapping, on the CPU.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects; a corrupt zip fails here too
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFormatError(f"{path}: not a loadable state dict ({first_line})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFormatError(f"{path}: not a state dict (expected a mapping of names to tensors)")
    return state


def load_weights_into(
    model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike[str], network: str
) -> None:
    """``model.load_state_dict(state)`` (strict), turning a mismatch into one line naming the file and network.

    Raises:
        WeightsFormatError: the state dict belongs to another network (missing, unexpected or mis-shaped keys).
    """
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        expected, given = set(model.state_dict()), set(state)
        raise WeightsFormatError(
            f"{path}: not {network} weights ({len(expected - given)} missing, {len(given - expected)} unexpected "
            f"keys; {str(exc).strip().splitlines()[-1].strip()[:160]})"
        ) from None
