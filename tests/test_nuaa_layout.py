"""rtliveness.training.nuaa: NUAA's raw frames grouped into sessions, the one rule the NUAA
scripts share."""

from __future__ import annotations

from pathlib import Path

from rtliveness.training.nuaa import NuaaSession, nuaa_sessions


def _touch(root: Path, folder: str, person: str, stem: str) -> Path:
    p = root / folder / person / f"{stem}.jpg"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def test_frames_are_grouped_by_session_and_ordered_by_frame_number(tmp_path):
    # frame numbers compared as numbers: 0010 after 0009 (and 9 after 10 would be a text order)
    f10 = _touch(tmp_path, "ClientRaw", "0002", "0002_00_00_01_10")
    f9 = _touch(tmp_path, "ClientRaw", "0002", "0002_00_00_01_9")
    other = _touch(tmp_path, "ClientRaw", "0002", "0002_00_00_02_1")
    first = _touch(tmp_path, "ClientRaw", "0001", "0001_01_00_01_0")
    photo = _touch(tmp_path, "ImposterRaw", "0001", "0001_00_00_01_0")
    _touch(tmp_path, "ClientRaw", "0001", "notes")  # not a frame name: left out
    (tmp_path / "ClientRaw" / "0001" / "0001_01_00_01_1.png").write_bytes(b"")  # not a .jpg
    got = nuaa_sessions(tmp_path)
    assert got == [
        NuaaSession("ClientRaw", "real", ("0001", "01", "00", "01"), (first,)),
        NuaaSession("ClientRaw", "real", ("0002", "00", "00", "01"), (f9, f10)),
        NuaaSession("ClientRaw", "real", ("0002", "00", "00", "02"), (other,)),
        NuaaSession("ImposterRaw", "printed", ("0001", "00", "00", "01"), (photo,)),
    ]
    assert got[1].person == "0002" and got[1].name == "ClientRaw_0002_00_00_01"
    assert nuaa_sessions(tmp_path, {"0001"}) == [got[0], got[3]]
    assert nuaa_sessions(tmp_path / "missing") == []
