"""The checkpoint format: weights plus the preprocessing and decision settings that travel with them.

A checkpoint is a plain dict, loadable with ``torch.load(..., weights_only=True)``::

    {"format": "rtliveness-spoofmodel", "version": 1,
     "state_dict": {...}, "meta": {input_size, mean, std, window, threshold, crop_scale,
                                   class_names, storage, security_levels, ...}}

Origin checkpoints also load: a bare state dict, or a dict with ``model_state_dict`` /
``state_dict`` / ``model`` next to ``epoch`` etc. (numpy scalars, an ``argparse.Namespace``), or
a model saved whole (``torch.save(model)``, DataParallel too) — still with ``weights_only=True``:
see :mod:`rtliveness.model.pickled`. They get the origin preprocessing (224 px, ImageNet mean/std,
threshold 0.5).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ..atomic import atomic_file
from ..errors import WeightsError
from .dims import IMAGENET_MEAN, IMAGENET_STD, WINDOW
from .pickled import is_torchscript, module_tensors, read_pickled_model
from .spoofmodel import SpoofModel

__all__ = [
    "ModelMeta",
    "LoadedModel",
    "load_checkpoint",
    "save_checkpoint",
    "atomic_torch_save",
    "sha256_file",
    "default_weights_path",
    "verify_sidecar",
    "CHECKPOINT_FORMAT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

CHECKPOINT_FORMAT = "rtliveness-spoofmodel"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class ModelMeta:
    """Preprocessing and decision settings that travel with the weights."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    window: int = WINDOW
    threshold: float = 0.5
    crop_scale: float = 1.0
    class_names: tuple[str, ...] = ("real", "replay", "printed", "2dmask")
    color_order: str = "RGB"
    #: named operating points calibrated on dev data, e.g. (("convenience", 0.31), ("balanced", 0.55))
    security_levels: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not (16 <= int(self.input_size) <= 1024):
            raise WeightsError(f"checkpoint input_size {self.input_size!r} is out of range 16..1024")
        if int(self.window) != WINDOW:
            raise WeightsError(f"checkpoint window {self.window!r} is not {WINDOW}: the SpoofModel head takes {WINDOW} crops")
        if not (0.0 < float(self.threshold) < 1.0):
            raise WeightsError(f"checkpoint threshold {self.threshold!r} is not in (0, 1)")
        for name, thr in self.security_levels:
            if not isinstance(name, str) or not (0.0 < float(thr) < 1.0):
                raise WeightsError(f"checkpoint security level {name!r} has threshold {thr!r} outside (0, 1)")
        if len(self.mean) != 3 or len(self.std) != 3 or not all(math.isfinite(v) for v in (*self.mean, *self.std)) \
                or min(self.std) <= 0:
            raise WeightsError("checkpoint mean/std must be three finite numbers each, std > 0")
        if not (math.isfinite(self.crop_scale) and 0.5 <= self.crop_scale <= 4.0):
            raise WeightsError(f"checkpoint crop_scale {self.crop_scale!r} is out of range 0.5..4")
        if self.color_order not in ("RGB", "BGR"):
            raise WeightsError(f"checkpoint color_order {self.color_order!r} must be RGB or BGR")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"], d["class_names"] = list(self.mean), list(self.std), list(self.class_names)
        d["security_levels"] = {name: float(thr) for name, thr in self.security_levels}
        return d

    def operating_threshold(self, threshold: float | None = None, security: str | None = None) -> float:
        """The threshold a pipeline runs at: ``threshold`` when given, else the ``security``
        level's, else the checkpoint's own; a :class:`ConfigError` outside (0, 1)."""
        # a mistyped level is an error even when an explicit threshold wins over it
        level = self.threshold_for(security) if security is not None else None
        if threshold is not None:
            from ..config import check_threshold

            return check_threshold(threshold)
        t = level if level is not None else float(self.threshold)
        if not 0.0 < t < 1.0:
            from ..errors import ConfigError

            raise ConfigError(f"threshold must be in (0, 1), got {t}")
        return t

    def threshold_for(self, level: str) -> float:
        """The threshold of a named security level stored with the weights."""
        levels = dict(self.security_levels)
        if level not in levels:
            from ..errors import ConfigError

            have = ", ".join(levels) or "none (this checkpoint has no calibrated levels)"
            raise ConfigError(f"unknown security level {level!r}; this model has: {have}")
        return float(levels[level])

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelMeta":
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("mean", "std", "class_names"):
            if k in kw:
                v = kw[k]
                if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
                    raise WeightsError(f"checkpoint meta is invalid: {k} must be a list, not {type(v).__name__}")
                kw[k] = tuple(v)
        if not all(isinstance(c, str) for c in kw.get("class_names", ())):
            raise WeightsError("checkpoint meta is invalid: class_names must be a list of strings")
        if "security_levels" in kw:
            levels = kw["security_levels"]
            items = levels.items() if isinstance(levels, Mapping) else levels
            try:
                kw["security_levels"] = tuple((str(n), float(t)) for n, t in items)
            except (TypeError, ValueError) as exc:
                raise WeightsError(f"checkpoint security_levels are invalid: {exc}") from exc
        try:
            for k, typ in (("input_size", int), ("window", int), ("threshold", float), ("crop_scale", float)):
                if k in kw:
                    kw[k] = typ(kw[k])
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"checkpoint meta is invalid: {exc}") from exc


@dataclass(frozen=True)
class LoadedModel:
    model: SpoofModel
    meta: ModelMeta
    path: Path | None
    sha256: str | None
    storage: str = "fp32"  # how the file stored its tensors (fp32, fp16, int8, int8-kernel; origin files: fp32)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_weights_path() -> Path:
    """The bundled weights: ``weights/`` at the repo root (editable install) or inside the
    installed package (wheel)."""
    package = Path(__file__).resolve().parent.parent
    for cand in (package / "weights" / "spoofmodel.pt", package.parent / "weights" / "spoofmodel.pt"):
        if cand.is_file():
            return cand
    return package.parent / "weights" / "spoofmodel.pt"


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as fh:
        torch.save(obj, fh)


_INT8_SCALES = "int8_scales"
#: how a checkpoint may store its tensors (see :func:`_quantise`)
STORAGES = ("fp32", "fp16", "int8", "int8-kernel")


def _quantise(sd: Mapping[str, torch.Tensor], storage: str) -> tuple[dict, dict]:
    """(state dict as stored, per-channel scales of int8 tensors).

    ``fp16`` halves every float tensor; ``int8`` stores conv/linear weights (ndim >= 2) as int8
    with one fp32 scale per output channel (symmetric, max-abs) and the rest in fp16 — a quarter
    of the fp32 size; ``int8-kernel`` gives each convolution kernel (one output × one input
    channel) its own scale — about 0.37 of the fp32 size, and far closer to the float model
    (the shipped weights: p_spoof within 0.02 where per-channel int8 moves it by 0.34)."""
    out, scales = {}, {}
    for k, v in sd.items():
        v = v.detach().cpu()
        if storage.startswith("int8") and v.is_floating_point() and v.ndim >= 2:
            per_kernel = storage == "int8-kernel" and v.ndim >= 3
            groups = v.reshape(v.shape[0], v.shape[1] if per_kernel else 1, -1).float()
            scale = groups.abs().amax(dim=2).clamp_min(1e-12) / 127.0  # (out, in) or (out, 1)
            q = torch.round(groups / scale[:, :, None]).clamp(-127, 127).to(torch.int8).reshape(v.shape)
            out[k] = q.contiguous()
            scales[k] = (scale if per_kernel else scale[:, 0]).contiguous()
            continue
        if storage in ("fp16", "int8", "int8-kernel") and v.is_floating_point():
            v = v.to(torch.float16)
        out[k] = v.contiguous()
    return out, scales


def _dequantise(sd: dict, scales: Mapping[str, torch.Tensor]) -> dict:
    """int8 tensors times their scales; a :class:`WeightsError` when a scale does not fit its tensor."""
    for k, scale in scales.items():
        if k in sd:
            q = sd[k]
            try:
                if not isinstance(q, torch.Tensor) or not isinstance(scale, torch.Tensor) or q.ndim < 2 \
                        or scale.ndim not in (1, 2) or scale.shape[0] != q.shape[0] \
                        or (scale.ndim == 2 and scale.shape[1] not in (1, q.shape[1])):
                    raise ValueError("shape")
                scale = scale.float().reshape(scale.shape[0], -1)  # (out, 1) per channel, (out, in) per kernel
                sd[k] = (q.reshape(q.shape[0], scale.shape[1], -1).float() * scale[:, :, None]).reshape(q.shape)
            except (RuntimeError, ValueError, IndexError, TypeError) as exc:
                got = tuple(scale.shape) if isinstance(scale, torch.Tensor) else type(scale).__name__
                want = tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
                raise WeightsError(f"int8 scales of {k} ({got}) do not fit its weights ({want}); the file is damaged") from exc
    return sd


def save_checkpoint(path: Path, model: SpoofModel, meta: ModelMeta, storage: str = "fp32",
                    extra: Mapping[str, Any] | None = None, write_sha256: bool = False) -> Path:
    """Write a checkpoint atomically. ``storage='fp16'`` halves the file, ``'int8'`` quarters it
    (per-channel weights), ``'int8-kernel'`` keeps about 0.37 of it (a scale per kernel; for
    shipping, see :func:`_quantise`)."""
    if storage not in STORAGES:
        raise ValueError(f"storage must be fp32, fp16, int8 or int8-kernel, got {storage!r}")
    state, scales = _quantise(model.state_dict(), storage)
    obj = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "state_dict": state,
        "meta": {**meta.to_dict(), "storage": storage},
    }
    if scales:
        obj[_INT8_SCALES] = scales
    if extra:
        obj.update(extra)
    path = Path(path)
    if not write_sha256:
        atomic_torch_save(obj, path)
        return path
    # serialised and summed first (a failure there touches nothing); then the stale sum goes, the
    # file is renamed in and its sum written: an interruption leaves a file that loads (the old
    # or the new one, with its own sum or with none)
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getbuffer()
    digest = hashlib.sha256(data).hexdigest()
    sidecar = path.with_name(path.name + ".sha256")
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar.unlink(missing_ok=True)
    with atomic_file(path, "wb") as fh:
        fh.write(data)
    with atomic_file(sidecar, "w") as fh:
        fh.write(f"{digest}  {path.name}\n")
    return path


_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def _extract_state_dict(obj: Any, path: Path) -> tuple[dict, dict]:
    """Return (state_dict, meta_dict) from any supported checkpoint shape."""
    if isinstance(obj, torch.nn.Module):  # a whole model (torch.save(model)), read by read_pickled_model
        return module_tensors(obj), {}
    if isinstance(obj, Mapping):
        obj = {k: (module_tensors(v) if isinstance(v, torch.nn.Module) else v) for k, v in obj.items()}
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: not a checkpoint (a {type(obj).__name__}); expected a state dict")
    if obj.get("format") == CHECKPOINT_FORMAT:
        if not isinstance(obj.get("state_dict"), Mapping) or not isinstance(obj.get("meta", {}), Mapping) \
                or not isinstance(obj.get(_INT8_SCALES, {}), Mapping):
            raise WeightsError(f"{path}: rtliveness checkpoint without a valid state_dict/meta; the file is damaged")
        try:
            sd = _dequantise(dict(obj["state_dict"]), obj.get(_INT8_SCALES, {}))
        except WeightsError as exc:
            raise WeightsError(f"{path}: {exc}") from exc
        return sd, dict(obj.get("meta", {}))
    if "optimizer" in obj and "step_in_epoch" in obj and isinstance(obj.get("meta"), Mapping):
        # rtliveness train's last.pt: preprocessing in it, but no calibrated threshold
        raise WeightsError(f"{path} is a training state (last.pt), not a model: it has no calibrated threshold; use "
                           "model.pt from the same run folder, or continue training with rtliveness train --resume")
    for key in _STATE_KEYS:
        if key in obj and isinstance(obj[key], Mapping):
            return dict(obj[key]), {}
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj), {}
    raise WeightsError(f"{path}: no state dict found (looked for {', '.join(_STATE_KEYS)} or a bare state dict)")


def _strip_prefix(sd: dict) -> dict:
    """Accept state dicts saved from DataParallel/compiled models (``module.`` / ``_orig_mod.``, in
    any order and nesting, e.g. ``_orig_mod.module.`` from ``torch.compile(DataParallel(m))``)."""
    stripped = True
    while sd and stripped:
        stripped = False
        for prefix in ("module.", "_orig_mod."):
            if all(isinstance(k, str) and k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                stripped = True
    return sd


def _torchvision_resnet18(sd: Mapping[str, Any], model: SpoofModel) -> str | None:
    """What ``sd`` is when it is a resnet18 in torchvision's layout (``conv1.*``, ``layer1-4.*``,
    ``fc.*``: what ``--pretrained`` reads) rather than a SpoofModel's (``encoder.*``): "a torchvision
    resnet18 ImageNet classifier" (1000 classes), another classifier, or an encoder alone (no
    ``fc``, as ``rtliveness pretrain`` writes); None otherwise."""
    want = model.encoder.state_dict()
    trunk = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    if set(trunk) != set(want) or any(getattr(v, "shape", None) != want[k].shape for k, v in trunk.items()):
        return None
    fc = sd.get("fc.weight")
    if not isinstance(fc, torch.Tensor) or fc.ndim != 2:
        return "a resnet18 encoder state dict (torchvision's layout, as rtliveness pretrain writes)"
    if fc.shape[0] == 1000:
        return "a torchvision resnet18 ImageNet classifier (1000 classes)"
    return f"a torchvision resnet18 classifier ({fc.shape[0]} classes)"


def _expected_sha256(path: Path) -> str | None:
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        text = sidecar.read_text().strip().split()
        return text[0].lower() if text else None
    return None


def _unreadable(path: Path, exc: OSError) -> str:
    import errno

    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read weights file {path}: permission denied; make it readable (chmod) or copy it somewhere readable"
    where = f" ({exc.filename})" if getattr(exc, "filename", None) and str(exc.filename) != str(path) else ""
    return f"cannot read weights file {path}: {exc.strerror or exc}{where}"


def verify_sidecar(path: Path) -> str | None:
    """Check ``path`` against its ``<file>.sha256`` sidecar, when one exists; the one place for it.

    Returns the digest when a sidecar was checked (None without one); raises
    :class:`WeightsError` when the file does not match."""
    try:
        expected = _expected_sha256(Path(path))
        if expected is None:
            return None
        digest = sha256_file(path)
    except OSError as exc:
        raise WeightsError(_unreadable(Path(path), exc)) from exc
    if digest != expected:
        raise WeightsError(f"weights file {path} fails its sha256 check (expected {expected[:12]}…, "
                           f"got {digest[:12]}…); the file is corrupt or was replaced — re-download or retrain it")
    return digest


def load_checkpoint(path: Path | None = None, map_location: str | torch.device = "cpu",
                    verify_checksum: bool = True) -> LoadedModel:
    """Load a SpoofModel checkpoint (ours or the origin's) safely, with ``weights_only=True``.

    When a ``<file>.sha256`` sidecar exists (the bundled weights have one) the file's sha256 must
    match it. Raises :class:`WeightsError` with one clear line on any problem.
    """
    given = path is not None
    path = Path(path) if given else default_weights_path()
    if not path.exists():
        bundled = default_weights_path()
        if given and bundled.is_file():  # e.g. weights/spoofmodel.pt typed outside the repository
            raise WeightsError(f"weights file not found: {path}; check the path (the bundled weights are {bundled})")
        raise WeightsError(f"weights file not found: {path}; pass --weights PATH or reinstall rtliveness")
    if path.is_dir():
        if (path / "meta.json").is_file() and (path / "encoder.onnx").is_file():
            raise WeightsError(f"weights path is an ONNX export folder (rtliveness export, for other runtimes): {path}; "
                               "pass the .pt checkpoint it was made from (run, serve and fleet make their own ONNX cache)")
        raise WeightsError(f"weights path is a folder, not a file: {path}; pass the .pt file inside it")
    if path.suffix.lower() == ".onnx":
        raise WeightsError(f"weights file is an ONNX graph, not a checkpoint: {path}; pass the .pt checkpoint it was "
                           "exported from (run, serve and fleet make their own ONNX cache)")
    digest = verify_sidecar(path) if verify_checksum else None
    if is_torchscript(path):
        raise WeightsError(f"weights file {path} is a TorchScript archive (torch.jit.save), not a checkpoint; save the "
                           "model's weights instead: torch.save(model.state_dict(), 'model.pth')")
    obj = refused = None
    try:
        with warnings.catch_warnings():
            # a plain pickle (not torch's zip format) makes torch warn about its protocol before
            # it refuses the file; the WeightsError below is the one line the user gets
            warnings.filterwarnings("ignore", message=r"Detected pickle protocol \d+ in the checkpoint",
                                    category=UserWarning)
            warnings.filterwarnings("ignore", message=r".*looks like a TorchScript archive", category=UserWarning)
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as exc:
        if exc.errno is not None:  # the file cannot be read (permission denied, I/O error), not what it holds
            raise WeightsError(_unreadable(path, exc)) from exc
        refused = exc
    except Exception as exc:  # torch raises many types: pickle errors, zip errors, EOF, unsafe globals
        refused = exc
    if refused is not None:
        exc = refused
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = str(exc)
        if ("Unsupported global" in text or "GLOBAL" in text or "REDUCE" in text) and "Unsupported operand" not in text:
            # a whole pickled model or harmless extras (numpy scalars, argparse.Namespace): read
            # with a narrow allow-list, still weights-only; anything else is refused
            obj, names = read_pickled_model(path, map_location)
            if obj is None:
                what = f" ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})" if names else ""
                raise WeightsError(
                    f"weights file {path} contains code or objects that are not plain tensors{what}; refused "
                    "(weights-only loading never runs a file's code) — convert it once where it was trained, for a "
                    f"file you trust: python -c \"import torch; torch.save(torch.load('{path}', weights_only=False)"
                    ".state_dict(), 'model_sd.pth')\" and pass model_sd.pth") from exc
    if refused is not None and obj is None:
        advice = "the file is truncated, corrupt or not a PyTorch checkpoint"
        # torch's own advice (weights_only=False) is not for our users; a bare code such as "101"
        # from the unpickler says nothing
        if "weights_only" in text or "Weights only load failed" in text or not any(c.isalpha() for c in msg):
            msg, advice = "not a PyTorch checkpoint", "pass a .pt file written by rtliveness (train, calibrate) or the origin recipe"
        if len(msg) > 160:  # torch's long advice: its first sentence, not a cut in mid-sentence
            msg = msg.split(". ")[0][:160].rstrip(" .") + "…"
        raise WeightsError(f"cannot read weights file {path}: {msg}; {advice}") from exc
    sd, meta_d = _extract_state_dict(obj, path)
    sd = _strip_prefix(sd)
    meta = ModelMeta.from_dict(meta_d) if meta_d else ModelMeta()
    model = SpoofModel(window=meta.window)
    resnet = _torchvision_resnet18(sd, model)
    if resnet is not None:
        raise WeightsError(f"weights file {path} is {resnet}, not a SpoofModel checkpoint; it can only start the "
                           f"encoder: rtliveness train DATA --pretrained {path} (--init-weights and --weights take a "
                           "SpoofModel checkpoint, e.g. a training run's model.pt)")
    want = model.state_dict()
    ints = [k for k, v in sd.items() if isinstance(v, torch.Tensor) and k in want and want[k].is_floating_point()
            and not v.is_floating_point()]
    if ints:
        raise WeightsError(f"weights file {path} holds integer tensors for float weights ({len(ints)}, e.g. {ints[0]}: "
                           f"{sd[ints[0]].dtype}), e.g. int8 weights without their scales; the file is damaged")
    sd = {k: (v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v) for k, v in sd.items()}
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise WeightsError(f"weights file {path} does not fit the SpoofModel architecture ({first[:160]}); "
                           "it was trained for a different model") from exc
    if missing or unexpected:
        def some(keys: list) -> str:
            return f" (e.g. {', '.join(keys[:3])})" if keys else ""

        raise WeightsError(f"weights file {path} does not fit the SpoofModel architecture "
                           f"({len(missing)} missing keys{some(list(missing))}, {len(unexpected)} unexpected keys"
                           f"{some(list(unexpected))}); it was trained for a different model")
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise WeightsError(f"weights file {path} holds NaN/Inf values in {name}; the training diverged — use another checkpoint")
    model.eval()
    storage = meta_d.get("storage") if isinstance(meta_d, Mapping) else None
    return LoadedModel(model=model, meta=meta, path=path, sha256=digest,
                       storage=storage if storage in STORAGES else "fp32")

