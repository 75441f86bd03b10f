#!/usr/bin/env python
"""Check the PyTorch re-implementation of dlib's ImageNet ResNet-34 on known images.

    scripts/fetch_dlib_resnet34.sh                 # once: caches the .dnn (~86 MB)
    python scripts/verify_dlib_resnet34.py [PATH]  # needs scikit-image for its sample images

Prints the parsed structure and each quirk as found in the file, the top-5 classes for
scikit-image's ``chelsea`` (a cat: expect 281 tabby / 282 tiger cat / 285 Egyptian cat) and
``coffee`` (a cup: expect 967 espresso / 968 cup), and — with ``--ablations`` — how the
predictions degrade when a quirk is done the "usual" way instead (BGR input, ImageNet
mean/std normalisation, flipped kernels). Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from rtliveness.training.pretrain import dlib_format as df
from rtliveness.training.pretrain.dlib_resnet import (
    DLIB_IMAGENET_MEAN,
    DlibResNet,
    load_dlib_resnet34,
    preprocess,
    resnet34_imagenet_spec,
)

DEFAULT = Path(os.environ.get("RTLIVENESS_CACHE", Path.home() / ".cache" / "rtliveness")) \
    / "dlib" / "resnet34_1000_imagenet_classifier.dnn"
EXPECT = {"chelsea": {281, 282, 285}, "coffee": {967, 968}}


def _structure(path: Path) -> None:
    dnn = df.read_dnn_file(path, spec=resnet34_imagenet_spec())
    net = dnn.net
    inp = net.input
    counts = Counter(type(lay).__name__ for lay in net.layers)
    print(f"file: {path} ({path.stat().st_size / 1e6:.1f} MB), {len(net.layers)} layers under "
          f"{type(net.loss).__name__}, {len(dnn.labels or [])} labels")
    print("layers: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print(f"quirk input: input_rgb_image_sized {inp.nr}x{inp.nc}, averages R/G/B = "
          f"{inp.avg_red:.3f}/{inp.avg_green:.3f}/{inp.avg_blue:.3f} "
          f"(dlib's input.h: (pixel - avg) / 256, R,G,B planes)")
    affines = [lay for lay in net.layers if isinstance(lay, df.Affine)]
    modes = Counter((lay.mode, lay.gamma_shape[2:]) for lay in affines)
    print(f"quirk affine_: {len(affines)} layers, (mode, gamma spatial shape) = {dict(modes)} "
          f"(mode 0 = CONV_MODE: per-channel gamma/beta, i.e. folded batch norm)")
    pools = [lay for lay in net.layers if isinstance(lay, df.AvgPool)]
    print("quirk avg_pool_: " + ", ".join(
        f"{p.nr}x{p.nc}/{p.stride_y} pad {p.padding_y}" if not p.everything else "everything" for p in pools))
    cons = [lay for lay in net.layers if isinstance(lay, df.Con)]
    print(f"quirk con_: stem {cons[0].filters_shape} stride {cons[0].stride_y} pad {cons[0].padding_y}; "
          f"strided 3x3 convs pad {sorted({c.padding_y for c in cons if c.stride_y == 2 and c.nr == 3})}, "
          f"others pad {sorted({c.padding_y for c in cons[1:] if c.stride_y == 1})}")
    mp = next(lay for lay in net.layers if isinstance(lay, df.MaxPool))
    fc = net.layers[-1]
    assert isinstance(fc, df.Fc)
    print(f"quirk max_pool_: {mp.nr}x{mp.nc}/{mp.stride_y} pad {mp.padding_y}; fc_: {fc.num_inputs} -> "
          f"{fc.num_outputs}, W stored (inputs, outputs) = {fc.weights_shape[:2]}, bias_mode {fc.bias_mode}")
    w = df.ByteWriter()
    df.write_net(w, net)
    if dnn.labels is not None:
        w.write_int(len(dnn.labels))
        for s in dnn.labels:
            w.write_string(s)
    same = w.getvalue() + dnn.trailing == path.read_bytes()
    print(f"writer: re-serialising the parsed file is byte-identical: {same}")


def _top5(model: DlibResNet, x: torch.Tensor, names: list[str]) -> dict[str, list[tuple[int, str, float]]]:
    return dict(zip(names, model.topk(x, 5)))


def _hit(res: dict[str, list[tuple[int, str, float]]]) -> dict[str, float]:
    """Probability mass the top-5 puts on the expected classes, per image."""
    return {k: sum(p for i, _, p in v if i in EXPECT[k]) for k, v in res.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--ablations", action="store_true", help="also run the wrong-quirk variants")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.path.is_file():
        print(f"{args.path} not found: run scripts/fetch_dlib_resnet34.sh first", file=sys.stderr)
        return 2
    try:
        from skimage import data as skdata
    except ImportError:
        print("needs scikit-image (pip install scikit-image) for its sample images", file=sys.stderr)
        return 2

    _structure(args.path)
    t0 = time.perf_counter()
    model = load_dlib_resnet34(args.path)
    print(f"loaded in {time.perf_counter() - t0:.1f} s")
    images = {"chelsea": skdata.chelsea(), "coffee": skdata.coffee()}
    names = list(images)
    x = torch.cat([preprocess(im) for im in images.values()])

    trace: list[tuple[str, tuple[int, ...]]] = []
    with torch.no_grad():
        model(x[:1], trace=trace)
    adds = [(i, shp) for i, (name, shp) in enumerate(trace) if name == "add_prev2"]
    for i, shp in adds:
        # ops before add_prev2: ..., tag2 (block output), skip1, avg_pool (shortcut)
        shortcut = trace[i - 1][1]
        block = next(s for n, s in reversed(trace[:i]) if n == "affine")
        print(f"quirk add_prev: shortcut {shortcut[1:]} + block {block[1:]} -> {shp[1:]} (zero-padded channels)")
    print(f"penultimate features: {trace[-2][0]} {trace[-2][1]}, logits {trace[-1][1]}")

    t0 = time.perf_counter()
    res = _top5(model, x, names)
    dt = time.perf_counter() - t0
    ok = True
    for name, top in res.items():
        print(f"\n{name} top-5 (central square, 227 px; {dt / len(names):.2f} s/image):")
        for idx, label, p in top:
            print(f"  {idx:4d} {label:<24s} {p:.4f}")
        good = top[0][0] in EXPECT[name]
        ok &= good
        print(f"  top-1 in {sorted(EXPECT[name])}: {'OK' if good else 'FAIL'}")

    if args.ablations:
        print("\nablations (probability mass on the expected classes in the top-5):")
        print(f"  as implemented             {_hit(res)}")
        bgr = torch.cat([preprocess(im[..., ::-1].copy()) for im in images.values()])
        print(f"  BGR channel order          {_hit(_top5(model, bgr, names))}")
        raw = torch.cat([preprocess(im, mean=(0.0, 0.0, 0.0)) for im in images.values()]) * 256.0 / 255.0
        mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
        std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
        print(f"  ImageNet mean/std          {_hit(_top5(model, (raw - mean) / std, names))}")
        flipped = load_dlib_resnet34(args.path)
        with torch.no_grad():
            for m in flipped.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.copy_(m.weight.flip(-1, -2))
        print(f"  convolution (flipped)      {_hit(_top5(flipped, x, names))}")
        folded = load_dlib_resnet34(args.path, fold_affine=True)
        with torch.no_grad():
            diff = float((folded(x) - model(x)).abs().max())
        print(f"  fold_affine=True max |logit diff| = {diff:.2e}")
    print(f"\ninput mean used: {model.mean} (dlib default {DLIB_IMAGENET_MEAN})")
    print("RESULT:", "OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
