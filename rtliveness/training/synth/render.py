"""Synthetic presentation-attack data made from real live faces (``rtliveness synth``).

No real attack recordings are available to this project, so attacks are *rendered* from real
live faces (two live webcam videos and ~40 faces in still photographs, see ``assets/README.md``):

* ``real``    - 5 consecutive frames (stride 1-3) of a live video, randomly framed; or a still
  photograph animated like a live sitter: a small smooth non-rigid (elastic) warp plus a tiny
  head rotation of the face region only, in front of a static background, with a subtle
  illumination change.
* ``printed`` - the face image (a still, or one frozen video frame) printed with an ink model
  (AM clustered-dot, FM/stochastic, ordered-dither or continuous-tone print; impure CMYK inks,
  gamut loss, lifted blacks, paper tint and texture, ink spread), held as a sheet in a scene:
  rigid perspective motion with hand shake, paper edge / white margin, fingers, shadow, a
  different (blurred image or wall) background and a lighting gradient.
* ``replay``  - the video (moving face) or still shown on a screen: the screen is rendered as an
  RGB sub-pixel grid seen through a homography and point-sampled by the camera at 2x then
  pixel-integrated (which produces moire), with display gamma / cool white point / black level,
  glare and environment reflection, a bezel and device body, rigid hand-held motion.
* ``2dmask``  - a printed face cut-out (irregular oval, sometimes eye holes, white cut edge,
  drop shadow) held over the head of a person in a live video, following the head with a lag
  and an offset.

Every frame, live or attack, then goes through the same camera model (exposure, white balance,
optics blur, optional motion blur, signal-dependent sensor noise, tone curve, sharpening, JPEG
quality 35-95); the camera's auto exposure meters the face, in every class alike. The crops are
then cut where the deployed loop cuts them (``boxes="loop"``, the default): 4-6 more frames are
rendered before the window, and the loop's detection cadence and tracker
(:class:`~rtliveness.training.prepare.LoopBoxes`, `run`'s defaults) run over all of them, the face
followed being the one found where it was rendered; so the face moves inside the crops between
detector runs as it does in deployment. With ``boxes="detect"`` the detector runs on each of the
5 frames instead (first in a region around where the face was rendered, then around the previous
box; whole frame as a fallback) and the face is followed by IoU. A sample whose face is missed or
lost is re-rendered with new random parameters, and crops are made with
:func:`rtliveness.crop.crop_face` exactly as at serving time. All randomness comes from ``numpy.random.default_rng([seed, class, sample, attempt])`` and
the detector runs with one torch thread, so a run is reproducible byte for byte (PNGs and
``synth_samples.jsonl``; ``rtliveness_data.json`` differs only in its ``seconds*`` timings),
whatever the number of worker processes.

Layout written by :func:`synthesize`::

    out_dir/rtliveness_data.json
    out_dir/synth_samples.jsonl              one line of parameters per sample
    out_dir/<class>/<class>_<person>_<k>/{0,1,2,3,4}.png

This is synthetic data: a model trained on it has never seen a real attack.
"""

from __future__ import annotations


import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ...config import DetectorConfig, TrackerConfig
from ...errors import ConfigError, DataError
from ...model.device import torch_threads
from ...runtime.crop import crop_face
from ...videopath import ffmpeg_path
from ...runtime.track import FaceFollower
from ...types import FaceBox
from ..attacks import CLASSES, class_seed
from ..data import sample_name
from ..files import atomic_write_text, remove_sample, write_sample
from .assets import _Identity, _Sources, load_sources
from .camera import _camera, _camera_params, tone_params
from .config import SynthConfig, _WINDOW
from .mask2d import _render_2dmask
from .printed import _render_printed
from .real import _render_real
from .replay import _render_replay
from .scene import _u


#: one renderer per class of :data:`rtliveness.training.attacks.CLASSES`
RENDERERS = {"real": _render_real, "printed": _render_printed, "replay": _render_replay, "2dmask": _render_2dmask}


def _track(detector, frames: list, first_expected: FaceBox, min_iou: float) -> list | None:
    """Boxes of the rendered face in each frame, followed by the serving tracker
    (:class:`~rtliveness.runtime.track.FaceFollower`): detection in a region around the expected
    box on frame 0 and around the previous box afterwards (whole frame as a fallback); None if
    the face is lost."""
    follower = FaceFollower(TrackerConfig(iou_threshold=min_iou, max_missed=0), first=first_expected)
    boxes = []
    for k, fr in enumerate(frames):
        around = first_expected if k == 0 else boxes[-1]
        cx, cy = around.center
        half = (1.5 if k == 0 else 1.25) * max(around.width, around.height)
        found = detector.detect(fr, region=(cx - half, cy - half, cx + half, cy + half)) or detector.detect(fr)
        box = follower.step(found)
        if box is None:
            return None
        boxes.append(box)
    return boxes


def _loop_track(loop, frames: list, first_expected: FaceBox, min_iou: float) -> list | None:
    """Boxes of the rendered face in each frame as the deployed loop places them
    (:class:`~rtliveness.training.prepare.LoopBoxes`: detector every few frames, tracker between),
    the face followed being the one found at the rendered box on frame 0; None unless one track
    holds it on every frame."""
    from ..prepare import loop_window

    loop.reset(near=first_expected, min_iou=min_iou)
    return loop_window([loop(fr) for fr in frames])


def _boxes_for(cfg: SynthConfig, det):
    """What finds the face in a rendered sample: the deployed loop's boxes (``boxes="loop"``)
    or the detector itself on every frame."""
    if cfg.boxes == "detect":
        return det
    from ..prepare import LoopBoxes

    # run's cadence, tracker and face-size rule; no second look for small faces (the rendered
    # face is the sample's subject, and the renderer's detector has its own minimum)
    return LoopBoxes.for_detector(det, DetectorConfig(small_face_frac=None))


def _default_detector(cfg: SynthConfig):
    from ...runtime.detect import build_detector

    return build_detector(DetectorConfig(min_face_size=cfg.det_min_face_size, factor=cfg.det_factor), device="cpu")


def _render_sample(src, ident, kind, rng, cfg, n, frame_size):
    w, h = frame_size
    res = RENDERERS[kind](src, ident, rng, cfg, n, w, h)
    if res is None:
        return None
    scenes, expected, params = res
    cp = _camera_params(rng, cfg)
    if cfg.camera_tone_p > 0:
        # its own stream (two jumps ahead of the sample's), so p = 0 draws nothing and renders
        # exactly as before
        trng = np.random.Generator(rng.bit_generator.jumped(2))
        if trng.random() < cfg.camera_tone_p:
            cp.update(tone_params(trng))
    e = expected[0]
    if e is not None:                # auto exposure on the face (as webcams do), same for all classes
        x1, y1 = max(0, int(e.x1)), max(0, int(e.y1))
        x2, y2 = min(w, int(e.x2)), min(h, int(e.y2))
        if x2 > x1 and y2 > y1:
            level = float(scenes[0][y1:y2, x1:x2].mean())
            aim = _u(rng, (0.3, 0.55))
            cp["ae_gain"] = round(float(np.clip(aim / max(level, 1e-3), 0.5, 3.0)), 4)
            cp["exposure"] = round(cp["exposure"] * cp["ae_gain"] ** _u(rng, (0.6, 1.0)), 4)
    crng = np.random.default_rng(rng.integers(1 << 62))
    frames = [_camera(np.ascontiguousarray(s, dtype=np.float32), cp, crng) for s in scenes]
    params["camera"] = cp
    return frames, expected, params


def _allot(idents: list, n: int, rng, video_weight: float) -> list:
    """``n`` identities by weight, largest-remainder rounding, shuffled."""
    wts = np.array([video_weight if i.kind == "video" else 1.0 for i in idents], np.float64)
    quota = n * wts / wts.sum()
    cnt = np.floor(quota).astype(int)
    rest = n - cnt.sum()
    order = np.lexsort((np.arange(len(idents)), -(quota - cnt)))
    cnt[order[:rest]] += 1
    out = [idents[i] for i in range(len(idents)) for _ in range(cnt[i])]
    perm = rng.permutation(len(out))
    return [out[i] for i in perm]


def synthesize(assets_dir: Path, out_dir: Path, config: SynthConfig, detector=None,
               progress: Callable[[int, int, str], None] | None = None, workers: int = 1) -> dict:
    """Render ``config.samples_per_class`` samples of each class into ``out_dir`` (see the
    module docstring for the layout) and return the report that is also stored in
    ``out_dir/rtliveness_data.json``. A sample whose face the detector misses or loses is
    re-rendered with new random parameters (at most ``max_attempts`` times). The detector runs
    with one torch thread during the call. ``workers`` > 1 (only when ``detector`` is None)
    renders in that many spawned processes, each with its own default detector; the output is
    the same as with one worker (every sample has its own seed). Workers are spawned, so a
    calling script needs the usual ``if __name__ == "__main__":`` guard.
    ``progress(done, total, class_name)`` is called after each sample."""
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    # one torch thread for the detector: several times faster than 2 on a busy 2-core machine
    # (no OpenMP oversubscription), and results do not depend on the core count
    with torch_threads(1):
        return _synthesize(Path(assets_dir), Path(out_dir), config, detector, progress, workers)


def _make_sample(src: _Sources, det, cfg: SynthConfig, out_dir: Path, ci: int, k: int, ident: _Identity) -> dict:
    """Render, detect, crop and write sample ``k`` of class ``ci``; retries with new random
    parameters. ``det``: a :class:`~rtliveness.training.prepare.LoopBoxes` (``boxes="loop"``:
    ``warmup`` extra frames are rendered before the window, the window's crops are cut at the
    loop's boxes) or a detector run on every frame. Returns {"record": ... or None,
    "skipped": {...}, "t_render", "t_detect"}."""
    kind = cfg.classes[ci]
    skipped = {"render": 0, "detect": 0, "given_up": 0}
    t_render = t_detect = 0.0
    for attempt in range(cfg.max_attempts):
        rng = np.random.default_rng([cfg.seed, class_seed(kind), k, attempt])
        warm = int(rng.integers(cfg.warmup[0], cfg.warmup[1] + 1)) if cfg.boxes == "loop" else 0
        ta = time.time()
        res = _render_sample(src, ident, kind, rng, cfg, warm + _WINDOW, cfg.frame_size)
        tb = time.time()
        t_render += tb - ta
        if res is None or res[1][0] is None:
            skipped["render"] += 1
            continue
        frames, expected, params = res
        if cfg.boxes == "loop":
            boxes = _loop_track(det, frames, expected[0], cfg.min_iou)
            params["warmup"] = warm
        else:
            boxes = _track(det, frames, expected[0], cfg.min_iou)
        t_detect += time.time() - tb
        if boxes is None:
            skipped["detect"] += 1
            continue
        frames, boxes = frames[warm:], boxes[warm:]
        name = sample_name(kind, ident.pid, k)
        write_sample(out_dir / kind / name, [crop_face(fr, b, cfg.store_scale, cfg.store_size) for fr, b in zip(frames, boxes)])
        rec = {"sample": f"{kind}/{name}", "class": kind, "person": ident.pid, "source": ident.file,
               "attempt": attempt, "boxes": [bb.as_list() for bb in boxes], "params": params}
        return {"record": rec, "skipped": skipped, "t_render": t_render, "t_detect": t_detect}
    skipped["given_up"] = 1
    return {"record": None, "skipped": skipped, "t_render": t_render, "t_detect": t_detect}


_WORKER: dict = {}


def _worker_init(assets_dir: str, cfg: SynthConfig, out_dir: str) -> None:
    import signal

    import torch

    # Ctrl+C reaches the whole process group: the parent alone handles it (it stops the pool and
    # keeps what it has recorded), so a worker neither prints a traceback nor starts a new sample
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    det = _default_detector(cfg)
    _WORKER.update(src=load_sources(Path(assets_dir), cfg, det), det=_boxes_for(cfg, det), cfg=cfg, out=Path(out_dir))


def _worker_job(job: tuple) -> tuple:
    ci, k, pid = job
    w = _WORKER
    ident = next(i for i in w["src"].identities if i.pid == pid)
    return ci, k, _make_sample(w["src"], w["det"], w["cfg"], w["out"], ci, k, ident)


def check_new_dataset(out_dir: Path) -> None:
    """``synth`` writes a whole dataset and its records: a folder that already holds samples or
    records is refused (mixing runs would leave records that describe only the last one)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out is a file: {out_dir}; give a new or empty folder")
    if not out_dir.is_dir():
        return
    held = [p.name for p in out_dir.iterdir() if not p.name.startswith(".")
            and (p.is_file() or any(not q.name.startswith(".") for q in p.iterdir()))]
    if held:
        raise ConfigError(f"--out {out_dir} already holds {', '.join(sorted(held)[:3])}{'…' if len(held) > 3 else ''}: "
                          "synth writes a new dataset with its records; give a new or empty folder "
                          "(join datasets with scripts/joint_dataset.py)")


def _synthesize(assets_dir: Path, out_dir: Path, config: SynthConfig, detector, progress, workers: int = 1) -> dict:
    t0 = time.time()
    cfg = config
    out_dir = Path(out_dir)
    check_new_dataset(out_dir)
    det = detector if detector is not None else _default_detector(cfg)
    src = load_sources(Path(assets_dir), cfg, det)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for ci, kind in enumerate(cfg.classes):
        (out_dir / kind).mkdir(exist_ok=True)
        plan = _allot(src.identities, cfg.samples_per_class,
                      np.random.default_rng([cfg.seed, class_seed(kind), 7919]), cfg.video_weight)
        jobs += [(ci, k, ident) for k, ident in enumerate(plan)]
    results: dict = {}
    try:
        _run_jobs(jobs, results, src, det, cfg, out_dir, assets_dir, detector, progress, workers)
    except KeyboardInterrupt:
        # the samples already written keep their records; the report says the run was cut short.
        # A worker may have written a sample the parent had not collected yet: it goes, so every
        # sample on disk has its record (the pool is stopped by now: nothing more is written)
        _drop_unrecorded(out_dir, cfg, jobs, results)
        _write_records(out_dir, cfg, src, results, t0, workers, detector, interrupted=True)
        raise
    report = _write_records(out_dir, cfg, src, results, t0, workers, detector, interrupted=False)
    if report["total"] == 0:
        given_up = sum(v["given_up"] for v in report["skipped"].values())
        raise DataError(f"synth rendered no sample ({given_up} given up: the detector found no face in any rendered "
                        f"window of {cfg.frame_size[0]}x{cfg.frame_size[1]}); try a larger --width/--height or other --assets")
    return report


def _drop_unrecorded(out_dir: Path, cfg: SynthConfig, jobs: list, results: dict) -> None:
    """Remove the folders (whole or half-written) of the jobs that have no record in ``results``."""
    for ci, k, ident in jobs:
        res = results.get((ci, k))
        if res is None or res["record"] is None:
            kind = cfg.classes[ci]
            remove_sample(out_dir / kind / sample_name(kind, ident.pid, k))


def _run_jobs(jobs, results, src, det, cfg, out_dir, assets_dir, detector, progress, workers) -> None:
    total = len(jobs)
    if workers > 1 and detector is None:
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_worker_init, initargs=(str(assets_dir), cfg, str(out_dir))) as pool:
            # one job at a time: a result reaches the parent (and its record) as soon as its sample
            # is written, so a Ctrl+C drops at most the samples in flight
            for ci, k, res in pool.imap_unordered(_worker_job, [(ci, k, i.pid) for ci, k, i in jobs], chunksize=1):
                results[(ci, k)] = res
                if progress is not None:
                    progress(len(results), total, cfg.classes[ci])
    else:
        finder = _boxes_for(cfg, det)  # not closed: closing its pipeline would close ``det`` too
        for ci, k, ident in jobs:
            results[(ci, k)] = _make_sample(src, finder, cfg, out_dir, ci, k, ident)
            if progress is not None:
                progress(len(results), total, cfg.classes[ci])


def _write_records(out_dir: Path, cfg: SynthConfig, src, results: dict, t0: float, workers: int, detector,
                   interrupted: bool) -> dict:
    """The run's report, written as ``rtliveness_data.json`` with one ``synth_samples.jsonl``
    record per sample written (both atomically); returns the report."""
    counts = {kind: 0 for kind in cfg.classes}
    per_ident: dict = {kind: {} for kind in cfg.classes}
    skipped = {kind: {"render": 0, "detect": 0, "given_up": 0} for kind in cfg.classes}
    records = []
    t_render = t_detect = 0.0
    for (ci, k) in sorted(results):
        res, kind = results[(ci, k)], cfg.classes[ci]
        for key, v in res["skipped"].items():
            skipped[kind][key] += v
        t_render += res["t_render"]
        t_detect += res["t_detect"]
        rec = res["record"]
        if rec is not None:
            records.append(rec)
            counts[kind] += 1
            per_ident[kind][rec["person"]] = per_ident[kind].get(rec["person"], 0) + 1
    seconds = time.time() - t0
    report = {
        "counts": counts,
        "total": int(sum(counts.values())),
        "identities": {i.pid: {"kind": i.kind, "file": i.file} for i in src.identities},
        "per_identity": per_ident,
        "skipped": skipped,
        "params": _config_dict(cfg),
        "seconds": round(seconds, 2),
        "seconds_render": round(t_render, 2),
        "seconds_detect": round(t_detect, 2),
        "workers": workers if (workers > 1 and detector is None) else 1,
        "synthetic": True,
        "unreadable_assets": list(src.unreadable),
    }
    if interrupted:
        report["interrupted"] = True
    meta = {"crop_scale": cfg.store_scale, "crop_size": cfg.store_size, "generator": "rtliveness synth",
            "config": _config_dict(cfg), "report": report}
    atomic_write_text(out_dir / "rtliveness_data.json", json.dumps(meta, indent=2, default=_jsonable) + "\n")
    atomic_write_text(out_dir / "synth_samples.jsonl",
                      "".join(json.dumps(rec, default=_jsonable, sort_keys=True) + "\n" for rec in records))
    return report


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _config_dict(cfg: SynthConfig) -> dict:
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def render_clip(kind: str, assets_dir: Path, out_path: Path, n_frames: int = 100, seed: int = 0,
                fps: float = 25.0, frame_size=(640, 480), detector=None, identity: str | None = None,
                face_size: tuple[float, float] = (110.0, 220.0), fourcc: str = "mp4v",
                params_json: Path | None = None) -> Path:
    """Write a full-frame video (``fourcc``) of one rendered scene (``kind`` in :data:`CLASSES`),
    through the same camera model as :func:`synthesize`, for examples, demos and evaluation
    through the deployed loop. The face is ``identity`` (an identity id of the assets, as in
    ``rtliveness_data.json``), by default a live-video person (the webcam talking head when
    present). ``params_json``: also write the scene's render parameters there (as
    ``synth_samples.jsonl`` records them: screen size, print medium, mask cut, camera...)."""
    if kind not in CLASSES:
        raise ConfigError(f"unknown kind {kind!r}: use one of {CLASSES}")
    if n_frames < 1:
        raise ConfigError(f"n_frames must be >= 1, got {n_frames}")
    cfg = SynthConfig(seed=seed, frame_size=tuple(frame_size), face_size=tuple(face_size), frame_stride=(1, 1))
    det = detector if detector is not None else _default_detector(cfg)
    # one torch thread for the detector: several times faster than 2 on a busy 2-core machine
    # (no OpenMP oversubscription), and results do not depend on the core count
    with torch_threads(1):
        src = load_sources(Path(assets_dir), cfg, det)
    if identity is not None:
        ident = next((i for i in src.identities if i.pid == identity), None)
        if ident is None:
            raise ConfigError(f"no identity {identity!r} in {assets_dir}; see the identities of rtliveness_data.json")
    else:
        vids = src.video_ids() or src.identities
        ident = next((i for i in vids if "talkinghead" in i.pid), vids[0])
    for attempt in range(10):
        rng = np.random.default_rng([seed, class_seed(kind), 99991, attempt])
        res = _render_sample(src, ident, kind, rng, cfg, n_frames, cfg.frame_size)
        if res is not None:
            break
    else:
        raise DataError(f"could not render a {kind} clip from {assets_dir}")
    frames = res[0]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    w, h = cfg.frame_size
    vw = cv2.VideoWriter(ffmpeg_path(out_path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
    if not vw.isOpened():
        raise DataError(f"cannot write video {out_path}")
    for fr in frames:
        vw.write(fr)
    vw.release()
    if params_json is not None:
        rec = {"class": kind, "identity": ident.pid, "seed": seed, "params": res[2]}
        Path(params_json).write_text(json.dumps(rec, default=_jsonable, sort_keys=True) + "\n")
    return out_path
