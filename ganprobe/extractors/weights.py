"""Where extractor weights come from, and how they are checked before use.

One place resolves every weights file, in this order:

1. an explicit ``weights_path`` argument (the file must exist);
2. ``$GANPROBE_WEIGHTS_DIR/<filename>`` (a folder you fill by hand on an offline machine);
3. ganprobe's cache, ``$GANPROBE_CACHE_DIR/weights/<filename>`` (default ``~/.cache/ganprobe/weights``);
4. torch hub's checkpoint folder (``torch.hub.get_dir()/checkpoints``), where torchvision keeps its downloads;
5. a download from the published URL into ganprobe's cache, unless ``GANPROBE_OFFLINE=1``.

Every file's SHA-256 is checked in full against the pinned digest before it is loaded (every built-in weights file
has its full digest pinned; a bare 8+ hex digit prefix, as torch hub file names carry, is accepted only for files
whose full digest is not published, via ``WeightsFile.sha256_prefix``), and loading uses
``torch.load(..., weights_only=True)`` so no pickled code is ever executed.

Finding and checking a file imports no torch (``ganprobe extractors`` reports every file without it); only
:func:`load_state_dict` and :func:`load_weights_into` do.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ganprobe.errors import WeightsChecksumError, WeightsFormatError, WeightsNotFoundError
from ganprobe.front_end_names import PerFrontEnd, Template

if TYPE_CHECKING:
    import torch

WEIGHTS_DIR_ENV = "GANPROBE_WEIGHTS_DIR"
CACHE_DIR_ENV = "GANPROBE_CACHE_DIR"
OFFLINE_ENV = "GANPROBE_OFFLINE"
# Set while only looking (``ganprobe extractors``): a missing file is reported, never downloaded.
_LOOK_ONLY: ContextVar[bool] = ContextVar("ganprobe_weights_look_only", default=False)


@contextmanager
def look_only() -> Iterator[None]:
    """Within the block, :func:`resolve_weights` reports a missing file instead of downloading it."""
    token = _LOOK_ONLY.set(True)
    try:
        yield
    finally:
        _LOOK_ONLY.reset(token)


_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: its file name, where it can be downloaded, and its checksum.

    Attributes:
        filename: the file name (torch hub names end in ``-<first 8 hex digits of the SHA-256>``).
        url: where to download it (``None``: supplied by hand only).
        sha256: the file's full SHA-256, 64 hex digits, checked in full; ``""`` when none is published (then only
            ``sha256_prefix`` is checked, or nothing, and such files must be loaded with verification off).
        sha256_prefix: a hex prefix of the SHA-256 (at least 8 digits), only for files whose full digest is not
            known; a weaker pin, used only when ``sha256`` is empty.
        also_in: further folders (``~`` expanded) searched last, where the publisher's own package keeps the same
            file (``~/.cache/clip`` for OpenAI's CLIP checkpoints).

    Raises:
        ValueError: ``sha256`` is neither empty nor 64 hex digits, or ``sha256_prefix`` is not 8-64 hex digits.
    """

    filename: str
    url: str | None
    sha256: str
    sha256_prefix: str = ""
    also_in: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sha256 and not _HEX64.fullmatch(self.sha256):
            raise ValueError(f"{self.filename}: sha256 must be the full 64-hex-digit digest, got {self.sha256!r}")
        if self.sha256_prefix and not _HEX_PREFIX.fullmatch(self.sha256_prefix):
            raise ValueError(f"{self.filename}: sha256_prefix must be 8-64 hex digits, got {self.sha256_prefix!r}")
        object.__setattr__(self, "sha256", self.sha256.lower())
        object.__setattr__(self, "sha256_prefix", self.sha256_prefix.lower())

    @property
    def expected(self) -> str:
        """What the file is checked against: the full digest, else the prefix (``""``: nothing published)."""
        return self.sha256 or self.sha256_prefix


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{8,64}")
# Only Python can load weights without a published checksum; the command line says so in its words.
_OWN = PerFrontEnd(
    python="pass {verify_checksum}=False for your own weights",
    cli="your own weights load from Python with verify_checksum=False (the command line takes only published ones)",
)
_OWN_IN_BRACKETS = PerFrontEnd(
    python="or pass {verify_checksum}=False for your own weights",
    cli="your own weights load from Python with verify_checksum=False; the command line takes only published ones",
)


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
    """Check ``path`` against ``expected`` (a full 64-hex digest, compared in full, or a prefix of 8 or more hex
    digits); return the file's full digest or raise.

    Raises:
        WeightsChecksumError: the digest differs, or ``expected`` is empty or shorter than 8 hex digits (nothing
            published to check against: pass ``verify_checksum=False`` for your own weights).
    """
    if not _HEX_PREFIX.fullmatch(expected or ""):
        raise WeightsChecksumError(
            Template("{path}: no published SHA-256 to check it against; {own_weights}", path=path, own_weights=_OWN)
        )
    actual = sha256_file(path)
    if not actual.startswith(expected.lower()):
        raise WeightsChecksumError(
            Template(
                "{path}: SHA-256 {actual}... does not match the published {expected}; the file is corrupt or is other "
                "weights: delete it and supply the original ({own_weights})",
                path=path,
                actual=actual[:16],
                expected=expected,
                own_weights=_OWN_IN_BRACKETS,
            )
        )
    return actual


def checked_digest(path: Path, expected: str, verify: bool = True) -> str:
    """Return the file's full SHA-256, checked against ``expected`` (digest or prefix) when ``verify``."""
    return verify_checksum(path, expected) if verify else sha256_file(path)


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, without importing torch when it is not loaded yet.

    torch hub's folder is ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``; only a
    loaded torch can have had it moved by ``torch.hub.set_dir``, so it is asked whenever it is loaded.
    """
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        return Path(hub.get_dir())
    base = os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", base))) / "hub"


def _candidates(spec: WeightsFile) -> Iterable[Path]:
    if os.environ.get(WEIGHTS_DIR_ENV):
        yield Path(os.environ[WEIGHTS_DIR_ENV]).expanduser() / spec.filename
    yield cache_dir() / "weights" / spec.filename
    yield torch_hub_dir() / "checkpoints" / spec.filename
    for folder in spec.also_in:
        yield Path(os.path.expanduser(folder)) / spec.filename


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
            missing = Template("{weights_path} {path!r} does not exist or is not a file", path=str(path))
            raise WeightsNotFoundError(missing)
        return path, checked_digest(path, spec.expected, verify)

    searched = list(_candidates(spec))
    for path in searched:
        if path.is_file():
            return path, checked_digest(path, spec.expected, verify)

    target = cache_dir() / "weights" / spec.filename
    if spec.url is None:
        raise _not_found(spec, searched, "not found and has no download URL")
    if _LOOK_ONLY.get():
        raise _not_found(spec, searched, "is not on this machine (it downloads on first use where there is internet)")
    if os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        raise _not_found(spec, searched, f"not found and {OFFLINE_ENV} is set")
    # Download under a staging name and check it before it takes the real name, so a wrong download (a proxy's
    # login page, say) never sits in the cache looking like weights.
    staging = target.with_name(target.name + ".download")
    try:
        _download(spec.url, staging)
        digest = checked_digest(staging, spec.expected, verify)
        os.replace(staging, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _not_found(spec, searched, f"not found and the download failed ({reason})") from None
    finally:
        if staging.exists():
            staging.unlink()
    return target, digest


def _not_found(spec: WeightsFile, searched: list[Path], why: str) -> WeightsNotFoundError:
    """The error for a weights file that is nowhere here, ``why`` in words, with how to supply it offline."""
    renamed = spec.url is not None and not spec.url.endswith("/" + spec.filename)
    return WeightsNotFoundError(
        Template(
            "weights file {name!r} {why}: download {source} on a machine with internet and put it in {folder} "
            "{renamed}(or pass {weights_file}); looked in: {searched}",
            name=spec.filename,
            why=why,
            source=spec.url or spec.filename,
            folder=f"${WEIGHTS_DIR_ENV}",
            renamed=f"as {spec.filename} " if renamed else "",
            weights_file=PerFrontEnd(python="{weights_path}=...", cli="{weights_path} FILE"),
            searched=", ".join(str(path.parent) for path in searched),
        )
    )


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a state dict with ``torch.load(weights_only=True)``; raise :class:`WeightsFormatError` for anything else.

    Args:
        path: a ``.pth``/``.pt`` file holding a mapping from parameter names to tensors.

    Returns:
        The mapping, on the CPU.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused a pickled object: name it, never how to force it
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f"the Python object {found.group(1)}" if found else "pickled Python objects"
        raise WeightsFormatError(
            f"{path}: not a plain state dict of tensors: it holds {what}, which ganprobe never unpickles; "
            "save the weights with torch.save(model.state_dict(), path)"
        ) from None
    except Exception as exc:  # a corrupt or truncated file, or not a torch file at all
        text = str(exc).strip()
        detail = type(exc).__name__ if "weights_only" in text or not text else text.splitlines()[0][:200]
        raise WeightsFormatError(f"{path}: not a loadable state dict ({detail})") from None
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
