"""The ONNX Runtime execution backend: a built-in backbone exported once per layer set, run by ONNX Runtime on CPU.

On the CPU, ONNX Runtime extracts features from a folder of PNGs faster than eager PyTorch, most of all for
EfficientNet-Lite0, with features equal to float32 round-off (``benchmarks/README.md``, "Execution backends", has the
figures). Only
the backbone runs in ONNX Runtime: preprocessing stays ganprobe's (so every pipeline, resize and normalisation is
unchanged).

An *export* is the backbone traced up to the last requested tap, returning exactly the requested layers (averaged
over space inside the graph when pooled features are asked for), with a dynamic batch dimension. Exports are cached
on disk (``<cache dir>/onnx``), keyed by the extractor's name, the SHA-256 of its weights, the tapped submodules,
pooling, input shape, the opset and the versions of ganprobe, torch, onnx and onnxruntime. Each file holds its key
and the SHA-256 of the graph in a header line, is written atomically, and is verified when read: a truncated,
altered or mismatched file is reported with a :class:`~ganprobe.errors.FeatureCacheWarning` and exported again.
ONNX graphs are protocol buffers: reading one executes no code.

The header's SHA-256 catches damage, not forgery (whoever can write the file can write its header), so the folder is
trusted like code (:mod:`ganprobe.utils.cache_files`): a folder another user could write is not used (one warning;
graphs
are exported in memory), and a name holding a link, FIFO or anything but a regular file, or an entry another user
could have written, is never opened, followed or replaced (one warning). And before a process first uses a graph
read from disk, the graph runs a fixed, seeded probe batch of :data:`PROBE_ROWS` images and its outputs must equal
the eager network's within :data:`PROBE_TOLERANCE` (relative); a graph that differs is reported and exported again.
The probe costs one eager and one ONNX Runtime pass over 2 images, once per process and graph (its outputs are
fixed, so a graph crafted to pass it can still lie on other images: the folder rule is the defence against that).

Backends by name (the ``backend=`` option of the built-in extractors, ``--backend`` on the command line):

* ``"torch"``: eager PyTorch (with the channels-last, autocast and compile options);
* ``"onnxruntime"``: this module; CPU only, float32 only (no autocast, no compile); needs ``ganprobe[onnxruntime]``;
* ``"auto"`` (the built-ins' default): ONNX Runtime when it is installed, the extractor runs on the CPU in float32
  and is not compiled; eager PyTorch otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ganprobe.errors import FeatureCacheWarning, InputError
from ganprobe.front_end_names import Template
from ganprobe.utils.cache_files import RefusedEntry, open_entry, trusted_folder, write_entry
from ganprobe.utils.safe_text import quote_path

BACKENDS = ("auto", "torch", "onnxruntime")
OPSET = 17
EXPORT_FORMAT = 1  # bump when the exported graph's contract changes
# Images per ONNX Runtime run (see OnnxRuntimeRunner): small blocks keep a CNN's activations in the CPU caches.
BLOCK_ROWS = 2
EXTRA_HINT = "pip install 'ganprobe[onnxruntime]' (onnxruntime and onnx)"
# Where exports live instead of <cache dir>/onnx (e.g. a folder of a test session; writable by you only).
EXPORT_DIR_ENV = "GANPROBE_ONNX_DIR"
PROBE_ROWS = 2  # images of the probe batch a graph read from disk must agree on with the eager network
PROBE_SEED = 22
PROBE_TOLERANCE = 1e-4  # max |ort - eager| / max |eager|, per output (tests/extractors/test_onnx_backend.py's measure)
# (key digest, graph SHA-256) of the graphs this process exported or checked against the eager network.
_VERIFIED: set[tuple[str, str]] = set()


def check_backend(backend: str) -> str:
    """Validate a ``backend`` option (one of :data:`BACKENDS`).

    Raises:
        InputError: an unknown name.
    """
    if backend not in BACKENDS:
        raise InputError(
            Template("{backend}: expected one of {choices}, got {given!r}", choices=list(BACKENDS), given=backend)
        )
    return backend


@functools.cache
def onnxruntime_available() -> bool:
    """Whether the ``onnxruntime`` extra is installed (ONNX Runtime to run graphs, onnx for torch's exporter)."""
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def unusable_reason(device: torch.device, autocast: str | None, compiled: bool) -> str | None:
    """Why ONNX Runtime cannot run an extractor in this configuration, or ``None`` when it can."""
    if not onnxruntime_available():
        return f"onnxruntime is not installed; {EXTRA_HINT}"
    if device.type != "cpu":
        return f"it runs on the CPU only, and the extractor is on {device}; use the torch backend there"
    if autocast is not None:
        return f"it runs in float32 only, and {autocast} autocast was asked for; use the torch backend for autocast"
    if compiled:
        return "torch.compile applies to the torch backend only"
    return None


class _Taps(nn.Module):
    """The backbone as a graph from images to the requested taps (what is exported).

    A forward hook records each tap's output; the pass stops once the last one is reached (so an early tap exports
    a small graph). Outputs follow the extractor's contract: a tuple's first element, float32, averaged over every
    dimension after the second when pooled.
    """

    def __init__(self, model: nn.Module, paths: Sequence[str], pool: bool) -> None:
        super().__init__()
        self.model = model
        self.paths = list(paths)
        self.pool = pool

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        captured: dict[int, Tensor] = {}
        modules = dict(self.model.named_modules())

        class Done(Exception):
            pass

        def make_hook(index: int):  # noqa: ANN202 - a forward-hook closure
            def hook(_module: nn.Module, _inputs: object, output: object) -> None:
                captured[index] = output[0] if isinstance(output, (tuple, list)) else output  # type: ignore[assignment]
                if len(captured) == len(self.paths):
                    raise Done

            return hook

        handles = [modules[path].register_forward_hook(make_hook(i)) for i, path in enumerate(self.paths)]
        try:
            self.model(images)
        except Done:
            pass
        finally:
            for handle in handles:
                handle.remove()
        outputs = []
        for index in range(len(self.paths)):
            output = captured[index].float()
            if self.pool and output.ndim > 2:
                output = output.flatten(2).mean(dim=2)
            outputs.append(output)
        return tuple(outputs)


def _versions() -> dict[str, str]:
    from importlib.metadata import version  # onnx's version without importing onnx (seconds at start-up)

    import onnxruntime

    from ganprobe import __version__

    return {
        "ganprobe": __version__,
        "torch": torch.__version__,
        "onnx": version("onnx"),
        "onnxruntime": onnxruntime.__version__,
    }


def export_key(
    name: str, weights: str, taps: Mapping[str, str], pool: bool, input_shape: Sequence[int]
) -> dict[str, Any]:
    """Everything an exported graph depends on (stored in the file's header and compared when it is read).

    Args:
        name: the extractor's registry name.
        weights: the SHA-256 of its weights file (or its seeded-random-weights description).
        taps: ``{layer: submodule path}`` of the requested layers, in request order.
        pool: whether the graph averages feature maps over space.
        input_shape: ``(C, H, W)`` of one preprocessed image.
    """
    return {
        "format": EXPORT_FORMAT,
        "extractor": name,
        "weights_sha256": weights,
        "taps": [[layer, path] for layer, path in taps.items()],
        "pool": bool(pool),
        "input": [int(size) for size in input_shape],
        "opset": OPSET,
        "versions": _versions(),
    }


def export_graph(model: nn.Module, taps: Mapping[str, str], pool: bool, example: Tensor) -> bytes:
    """Trace ``model`` up to its last requested tap and return the ONNX graph (dynamic batch dimension).

    Args:
        model: the backbone (on the CPU, in eval mode).
        taps: ``{layer: submodule path}``; the graph's outputs are named by the layers, in this order.
        pool: average feature maps over space inside the graph.
        example: a preprocessed batch (its channel and spatial sizes are fixed in the graph).
    """
    wrapper = _Taps(model, list(taps.values()), pool).eval()
    names = list(taps)
    buffer = io.BytesIO()
    sample = example[:2].detach().to("cpu", torch.float32).contiguous()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes on Python control flow in the backbones
        torch.onnx.export(
            wrapper,
            (sample,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["images"],
            output_names=names,
            dynamic_axes={"images": {0: "batch"}, **{layer: {0: "batch"} for layer in names}},
            do_constant_folding=True,
        )
    return buffer.getvalue()


class ExportCache:
    """Exported graphs on disk (see the module docstring).

    Args:
        directory: the folder (``None``: ``$GANPROBE_ONNX_DIR``, else ``<cache_dir()>/onnx``).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        from ganprobe.extractors.weights import cache_dir

        if directory is None:
            directory = os.environ.get(EXPORT_DIR_ENV) or cache_dir() / "onnx"
        self.directory = Path(directory).expanduser()
        self.unwritable = False
        self._trusted: bool | None = None  # whether only this user can write the folder (judged on first use)
        self._refused: set[Path] = set()  # names holding something else than a usable export: left alone

    def path_for(self, key: Mapping[str, Any]) -> Path:
        """The file of ``key``."""
        return self.directory / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]}.onnx"

    def load(self, key: Mapping[str, Any]) -> bytes | None:
        """The verified graph of ``key``, or ``None`` (missing; corrupt, mismatched or refused files are warned
        about; a folder another user could write is never read)."""
        found = self.load_with_digest(key)
        return None if found is None else found[0]

    def load_with_digest(self, key: Mapping[str, Any]) -> tuple[bytes, str] | None:
        """:meth:`load`, with the graph's SHA-256 (checked against the bytes read)."""
        path = self.path_for(key)
        if not self.usable():
            return None
        try:
            handle = open_entry(path)
            if handle is None:
                return None
            with handle:
                data = handle.read()
            header, _, graph = data.partition(b"\n")
            stored = json.loads(header)
            digest = _sha256(graph)
            valid = stored.get("key") == json.loads(json.dumps(key)) and stored.get("sha256") == digest
        except RefusedEntry as refusal:
            self._refused.add(path)
            self._warn(path, f"ONNX export {refusal}; left as it is")
            return None
        except (OSError, ValueError, AttributeError) as exc:
            self._warn(path, f"unreadable ONNX export ({type(exc).__name__})")
            return None
        if not valid:
            self._warn(path, "ONNX export does not match its key or checksum")
            return None
        return graph, digest

    def store(self, key: Mapping[str, Any], graph: bytes) -> Path | None:
        """Write ``graph`` with its header atomically; ``None`` when the folder cannot be written (warned once),
        another user could write it, or the name holds something that is left alone (warned when read)."""
        path = self.path_for(key)
        if self.unwritable or path in self._refused or not self.usable():
            return None
        header = json.dumps({"key": key, "sha256": _sha256(graph)}, sort_keys=True).encode()
        try:
            return write_entry(path, lambda handle: handle.write(header + b"\n" + graph))
        except RefusedEntry as refusal:
            self._refused.add(path)
            warnings.warn(FeatureCacheWarning(f"{quote_path(path)}: ONNX export {refusal}; not replaced"), stacklevel=2)
            return None
        except OSError as exc:
            self.unwritable = True
            warnings.warn(
                FeatureCacheWarning(
                    f"{quote_path(self.directory)}: cannot store ONNX exports ({exc.strerror or exc}); exporting "
                    "again in each run"
                ),
                stacklevel=3,
            )
            return None

    def usable(self) -> bool:
        """Whether only this user (or root) can write the folder; warns once when another user could."""
        if self._trusted is None:
            self._trusted = trusted_folder(
                self.directory,
                "ONNX exports",
                "the folder is not used (graphs are exported in memory; choose a folder only you can write with "
                f"{EXPORT_DIR_ENV})",
            )
        return self._trusted

    def _warn(self, path: Path, problem: str) -> None:
        warnings.warn(FeatureCacheWarning(f"{quote_path(path)}: {problem}; exporting again"), stacklevel=4)


def probe_batch(input_shape: Sequence[int]) -> Tensor:
    """The fixed probe batch: :data:`PROBE_ROWS` images of ``input_shape`` (C, H, W), uniform in [-1, 1] from a
    seeded generator (the range of normalised images)."""
    generator = torch.Generator().manual_seed(PROBE_SEED)
    return torch.rand((PROBE_ROWS, *[int(size) for size in input_shape]), generator=generator) * 2 - 1


def probe_mismatch(
    session: Any, model: nn.Module, taps: Mapping[str, str], pool: bool, input_shape: Sequence[int]
) -> str | None:
    """How an ONNX Runtime ``session`` differs from the eager ``model`` on :func:`probe_batch`, or ``None`` when every
    output agrees within :data:`PROBE_TOLERANCE` (max ``|ort - eager|`` over max ``|eager|``)."""
    batch = probe_batch(input_shape)
    with torch.no_grad():
        want = _Taps(model, list(taps.values()), pool)(batch)
    got = session.run(None, {"images": batch.numpy()})
    if len(got) != len(want):
        return f"{len(got)} outputs, not {len(want)}"
    for layer, ort, reference in zip(taps, got, want, strict=True):
        ort = torch.from_numpy(np.asarray(ort))
        if tuple(ort.shape) != tuple(reference.shape):
            return f"layer {layer!r} has shape {tuple(ort.shape)}, not {tuple(reference.shape)}"
        scale = float(reference.abs().max()) if reference.numel() else 0.0
        difference = float((ort.float() - reference).abs().max()) / max(scale, 1e-12) if reference.numel() else 0.0
        if not difference <= PROBE_TOLERANCE:
            return f"layer {layer!r} differs from the network's by {difference:.3g} (relative)"
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OnnxRuntimeRunner:
    """Runs an extractor's backbone in ONNX Runtime: one cached export and session per (layers, pooling, shape).

    Args:
        name: the extractor's registry name (part of export keys).
        weights: the SHA-256 of its weights (part of export keys; exports of unhashed weights are never cached).
        directory: the export cache folder (``None``: see :class:`ExportCache`).

    A batch runs as blocks of :data:`BLOCK_ROWS` (2) images, each its own ONNX Runtime run with one intra-op thread,
    taken in turn by ``torch.get_num_threads()`` threads (:meth:`blocks`), rather than as one run whose every
    operator is split across the threads. Small blocks keep a block's activations in the CPU caches, and the
    threads never wait for each other inside the network, so they lose less time to the DataLoader's decoding
    workers and to other processes sharing the cores: EfficientNet-Lite0 gains most, ResNet-50 and FID Inception
    barely change (block sizes measured side by side in ``benchmarks/README.md``, "Execution backends"). Each
    image's features are the same either way: the blocks are rows of the batch, and the features were identical.

    Sessions and the block threads are not pickled or deep-copied: a copy (torchmetrics' ``clone()``) builds its
    own on first use.
    """

    def __init__(self, name: str, weights: str | None, directory: str | os.PathLike[str] | None = None) -> None:
        self.name = name
        self.weights = weights
        self.directory = directory
        self._sessions: dict[tuple[Any, ...], Any] = {}
        self._threads: tuple[tuple[int, int], ThreadPoolExecutor] | None = None  # ((size, pid), executor)
        self._exports: ExportCache | None = None  # one per runner: a refused folder is warned about once
        self.exports = 0  # graphs exported by this runner (cache misses), for tests and benchmarks

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sessions": {}, "_threads": None}

    def run(self, model: nn.Module, taps: Mapping[str, str], batch: Tensor, pool: bool) -> dict[str, Tensor]:
        """``{layer: features}`` of a preprocessed CPU ``batch`` (NCHW float32), like the eager forward pass."""
        session = self._session(model, taps, batch, pool)
        array = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        blocks, threads = self.blocks(array.shape[0]), max(1, torch.get_num_threads())
        parts = np.array_split(array, blocks)  # contiguous row blocks (views)
        if blocks == 1 or threads == 1:
            results = [session.run(None, {"images": part}) for part in parts]
        else:  # ONNX Runtime releases the GIL while it runs, and one session serves concurrent runs
            owner = (threads, os.getpid())  # a forked child has none of its parent's threads: it starts its own
            if self._threads is None or self._threads[0] != owner:
                if self._threads is not None and self._threads[0][1] == owner[1]:
                    self._threads[1].shutdown(wait=False)
                self._threads = (owner, ThreadPoolExecutor(threads, thread_name_prefix="ganprobe-onnxruntime"))
            results = list(self._threads[1].map(lambda part: session.run(None, {"images": part}), parts))
        outputs = [np.concatenate(column) if blocks > 1 else column[0] for column in zip(*results, strict=True)]
        return {layer: torch.from_numpy(output) for layer, output in zip(taps, outputs, strict=True)}

    def blocks(self, rows: int) -> int:
        """How many runs a batch of ``rows`` images is split into: blocks of :data:`BLOCK_ROWS` images, at least one
        per torch thread, at most one per image."""
        threads = max(1, torch.get_num_threads())
        return max(1, min(rows, max(threads, -(-rows // BLOCK_ROWS))))

    def _session(self, model: nn.Module, taps: Mapping[str, str], batch: Tensor, pool: bool) -> Any:
        signature = (tuple(taps.items()), bool(pool), tuple(batch.shape[1:]))
        if signature not in self._sessions:
            self._sessions[signature] = self._build(model, taps, batch, pool)
        return self._sessions[signature]

    def _build(self, model: nn.Module, taps: Mapping[str, str], batch: Tensor, pool: bool) -> Any:
        """A session of this layer set's export: from the cache (checked on the probe batch before this process
        first uses it), else exported (and stored)."""
        if self.weights is not None and self._exports is None:
            self._exports = ExportCache(self.directory)
        cache = self._exports if self.weights is not None else None
        key = export_key(self.name, str(self.weights), taps, pool, batch.shape[1:])
        name = _sha256(json.dumps(key, sort_keys=True).encode())
        found = cache.load_with_digest(key) if cache is not None else None
        if cache is not None and found is not None:
            graph, digest = found
            session = self._new_session(graph)
            checked = (name, digest) in _VERIFIED
            problem = None if checked else probe_mismatch(session, model, taps, pool, batch.shape[1:])
            if problem is None:
                _VERIFIED.add((name, digest))
                return session
            problem = f"the ONNX export's outputs on a probe batch are not the network's: {problem}"
            cache._warn(cache.path_for(key), problem)
        graph = export_graph(model, taps, pool, batch)
        self.exports += 1
        _VERIFIED.add((name, _sha256(graph)))
        if cache is not None:
            cache.store(key, graph)
        return self._new_session(graph)

    def _new_session(self, graph: bytes) -> Any:
        import onnxruntime

        return onnxruntime.InferenceSession(graph, session_options(), providers=["CPUExecutionProvider"])


def session_options(threads: int = 1) -> Any:
    """The ONNX Runtime session options ganprobe runs exports with.

    Args:
        threads: intra-op threads of one run (default 1: the parallelism is over row blocks, see
            :class:`OnnxRuntimeRunner`).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ONNX Runtime's notes would clutter the terminal
    return options
