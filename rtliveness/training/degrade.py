"""Label-neutral camera degradations of stored training windows (training time only).

Cheap webcams in a dim room, a far-away face, a shaky hand, a heavily compressed stream: a live
person filmed that way must stay live, and an attack filmed that way must stay an attack. These
degradations are drawn **without looking at the label** (the same rates for every class) and
applied to whole 5-crop windows with the same parameters for the five crops (sensor noise is
fresh per crop, as it is per frame), so they teach the model that poor capture is not evidence
either way. The rendered camera chain (``synth.camera``) covers mild conditions only; this covers
the hard ones, on every sample — NUAA, rendered and your own recordings alike.

:func:`draw` picks the parameters of one window from a random generator; :func:`apply` is the
pure operation; :data:`CONDITIONS` are fixed, named settings of each kind for evaluation
(``scripts/eval_conditions.py``), so training and evaluation share one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Degradation", "KINDS", "SHARE", "CONDITIONS", "draw", "apply", "apply_batch", "to_gray"]

#: the kinds, in the order they are applied (the order light meets a camera and a stream)
KINDS = ("roll", "blur", "lowres", "lowlight", "white_balance", "jpeg")
#: the probability of each kind in a degraded window
SHARE = 0.4


@dataclass(frozen=True)
class Degradation:
    """One window's degradations; a field left at its neutral value is not applied."""

    roll_deg: float = 0.0  # in-plane rotation of the crop, degrees
    blur_sigma: float = 0.0  # Gaussian defocus, pixels at the stored crop size
    lowres: float = 1.0  # resolution factor: down to this share of the side, then back up
    light: float = 1.0  # scene light relative to normal (linear light)
    gain: float = 1.0  # camera gain applied after the sensor (auto exposure); amplifies the noise
    noise: float = 0.0  # sensor read-noise standard deviation, linear light in [0, 1]
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)  # B, G, R channel gains
    jpeg: int = 0  # JPEG quality (0 = no re-encode)
    gray: bool = False  # a grey camera (infrared, night mode): the grey level in all three channels, before JPEG

    @property
    def kinds(self) -> tuple[str, ...]:
        on = {"roll": self.roll_deg != 0.0, "blur": self.blur_sigma > 0.0, "lowres": self.lowres < 1.0,
              "lowlight": self.light < 1.0 or self.noise > 0.0, "white_balance": self.wb != (1.0, 1.0, 1.0),
              "jpeg": self.jpeg > 0}
        return tuple(k for k in KINDS if on[k]) + (("gray",) if self.gray else ())  # never drawn: a condition only


#: fixed, named settings for evaluation — each a hard but common real-camera condition
CONDITIONS: dict[str, Degradation] = {
    "dim": Degradation(light=0.4, gain=1.0, noise=0.01),  # a dim room, exposure not compensated
    "dark": Degradation(light=0.12, gain=1.0, noise=0.006),  # a dark room at the camera's longest exposure: pixel values about x0.4
    "dark_gain": Degradation(light=0.15, gain=4.0, noise=0.015),  # a dark room, auto gain: bright but noisy
    "blur": Degradation(blur_sigma=1.5),
    "lowres": Degradation(lowres=0.3),  # a face about a third as many pixels wide
    "jpeg": Degradation(jpeg=15),
    "warm_wb": Degradation(wb=(0.75, 1.0, 1.25)),  # tungsten light, no white balance
    "roll": Degradation(roll_deg=20.0),
    "gray": Degradation(gray=True),  # an infrared or night-mode camera
}


def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw(rng: np.random.Generator, share: float = SHARE) -> Degradation:
    """Parameters for one window: each kind is on with probability ``share`` (at least one is)."""
    on = rng.random(len(KINDS)) < share
    if not on.any():
        on[rng.integers(len(KINDS))] = True
    kw: dict = {}
    if on[0]:
        kw["roll_deg"] = float(rng.uniform(-25.0, 25.0))
    if on[1]:
        kw["blur_sigma"] = float(rng.uniform(0.6, 2.2))
    if on[2]:
        kw["lowres"] = float(rng.uniform(0.2, 0.6))
    if on[3]:
        light = _logu(rng, 0.08, 0.6)
        # auto exposure brings some of it back, at the price of amplified noise
        kw.update(light=light, gain=float(rng.uniform(1.0, 0.7 / light)), noise=_logu(rng, 0.002, 0.012))
    if on[4]:
        kw["wb"] = tuple(float(v) for v in rng.uniform(0.72, 1.28, 3))
    if on[5]:
        kw["jpeg"] = int(rng.integers(8, 41))
    return Degradation(**kw)


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.power(x, 2.2, dtype=np.float32)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return np.power(np.clip(x, 0.0, 1.0), 1.0 / 2.2, dtype=np.float32)


def to_gray(image_bgr: np.ndarray) -> np.ndarray:
    """What a grey camera (infrared, night mode) delivers: OpenCV's grey level of a BGR uint8
    image in all three channels — the one grey conversion of training and evaluation."""
    return cv2.cvtColor(cv2.cvtColor(np.ascontiguousarray(image_bgr), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def apply(image_bgr: np.ndarray, d: Degradation, rng: np.random.Generator | None = None) -> np.ndarray:
    """One degraded (H, W, 3) uint8 BGR image (a crop, or a whole frame for deployed-loop tests).
    ``rng`` draws the sensor noise (None: no noise)."""
    h, w = image_bgr.shape[:2]
    img = image_bgr
    if d.roll_deg:
        m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), d.roll_deg, 1.0)
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if d.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), d.blur_sigma)
    if d.lowres < 1.0:
        small = (max(4, int(round(w * d.lowres))), max(4, int(round(h * d.lowres))))
        img = cv2.resize(cv2.resize(img, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    if d.light < 1.0 or d.noise > 0 or d.wb != (1.0, 1.0, 1.0):
        x = _srgb_to_linear(img.astype(np.float32) / 255.0) * d.light
        if d.noise > 0 and rng is not None:
            shot = np.sqrt(np.maximum(x, 0.0) * 0.003 + d.noise ** 2)  # photon shot noise + read noise
            x = x + shot * rng.standard_normal(x.shape, dtype=np.float32)
        x = x * (d.gain * np.asarray(d.wb, np.float32))
        img = np.clip(_linear_to_srgb(x) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if d.gray:
        img = to_gray(img)
    if d.jpeg:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img), [cv2.IMWRITE_JPEG_QUALITY, int(d.jpeg)])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img)


def apply_batch(windows_bgr: np.ndarray, p: float, rng: np.random.Generator, share: float = SHARE) -> tuple[np.ndarray, int]:
    """Degrade each (5, S, S, 3) window of ``windows_bgr`` with probability ``p`` (drawn per
    window, never from its label). Returns the new array and how many windows were degraded."""
    out = windows_bgr.copy()
    hit = 0
    for i in range(len(out)):
        if rng.random() >= p:
            continue
        d = draw(rng, share)
        for j in range(out.shape[1]):
            out[i, j] = apply(out[i, j], d, rng)
        hit += 1
    return out, hit
