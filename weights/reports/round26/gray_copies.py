"""Round 26: grey copies of round 17's real live set, as an infrared or night-mode camera would
deliver it (the same frames through ``degrade.to_gray``, the one grey conversion; videos as MJPG .avi at the source's
frame rate, upright, photos as JPEG quality 95; the file names keep their stems).

    python weights/reports/round26/gray_copies.py runs/real_live runs/s19/real_live_gray
"""
import sys
from pathlib import Path

import cv2

from rtliveness.training.degrade import to_gray as grey

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from eval_real_live import video_files  # noqa: E402


def main(src: Path, dst: Path) -> None:
    (dst / "videos").mkdir(parents=True, exist_ok=True)
    (dst / "photos").mkdir(parents=True, exist_ok=True)
    for v in video_files(src / "videos"):
        cap = cv2.VideoCapture(str(v))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        writer, n = None, 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(dst / "videos" / f"{v.stem}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
            writer.write(grey(frame))
            n += 1
        cap.release()
        if writer is not None:
            writer.release()
        print(f"{v.name}: {n} frames")
    for p in sorted((src / "photos").iterdir()):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            continue
        cv2.imwrite(str(dst / "photos" / f"{p.stem}.jpg"), grey(img), [cv2.IMWRITE_JPEG_QUALITY, 95])
    print(f"photos: {len(list((dst / 'photos').iterdir()))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
