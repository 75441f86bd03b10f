"""A tiny benchmark run: the documented keys, positive numbers, the table and the JSON file."""

import json
import math

import pytest

from conftest import DATA
from rtliveness.bench import RESULT_KEYS, ROW_KEYS, STAGE_KEYS, format_table, make_synthetic_video, run_benchmark


def test_tiny_bench_run(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("RTLIVENESS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    res = run_benchmark(video=DATA / "talking_head.mov", cases=("file", "one"), frames=6, naive_frames=6, warmup=1,
                        devices=("cpu",), sizes=(32,), variants=("default", "default-torch"), synthetic_size=(320, 240),
                        work_dir=tmp_path / "work", json_path=out)
    assert set(RESULT_KEYS) <= set(res)
    assert [c["case"] for c in res["cases"]] == ["file", "one"]
    assert res["cases"][1]["size"] == [320, 240]
    rows = res["rows"]
    assert len(rows) == 2 * 3
    assert {r["variant"] for r in rows} == {"default", "default-torch", "naive"}
    for r in rows:
        assert set(ROW_KEYS) <= set(r)
        assert r["frames"] == 6 and r["input_size"] == 32 and r["device"] == "cpu"
        assert r["fps"] > 0 and r["seconds"] > 0 and r["peak_rss_mb"] > 0
        assert r["latency_ms_p95"] >= r["latency_ms_p50"] > 0
        assert set(r["stages_ms"]) == set(STAGE_KEYS)
        assert all(math.isfinite(v) and v >= 0 for v in r["stages_ms"].values())
        assert r["stages_ms"]["detect"] > 0 and r["stages_ms"]["encode"] > 0
        assert r["speedup_vs_naive"] > 0
    assert json.loads(out.read_text())["rows"] == rows
    table = format_table(res)
    assert "naive" in table and "default-torch" in table and "FPS" in table


def test_synthetic_video_has_the_faces(tmp_path, grace):
    import cv2

    path = make_synthetic_video(tmp_path / "v.mp4", faces=4, frames=3, size=(320, 240), face_image=grace)
    cap = cv2.VideoCapture(str(path))
    ok, img = cap.read()
    cap.release()
    assert ok and img.shape == (240, 320, 3)
