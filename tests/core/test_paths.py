"""One containment rule for names from shared text (node inputs and dataset manifests alike)."""

from __future__ import annotations

import pytest

from reco_core.paths import resolve_inside


def test_names_inside_resolve_and_names_outside_are_refused(tmp_path):
    folder = tmp_path / "data"
    (folder / "clips").mkdir(parents=True)
    (folder / "clips" / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    assert resolve_inside(folder, "clips/a.mp4") == (folder / "clips" / "a.mp4").resolve()
    for name in ("../secret.mp4", str(tmp_path / "secret.mp4"), "clips/../../secret.mp4"):
        with pytest.raises(ValueError, match="src_video: .* points outside the dataset folder"):
            resolve_inside(folder, name, "src_video", "the dataset folder")


def test_a_symlink_leading_out_is_refused_but_a_linked_folder_is_the_folder(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "clip.mp4").write_bytes(b"x")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "clip.mp4").symlink_to(outside / "clip.mp4")
    with pytest.raises(ValueError, match="points outside"):
        resolve_inside(folder, "clip.mp4", "file")
    linked = tmp_path / "linked"
    linked.symlink_to(outside, target_is_directory=True)
    assert resolve_inside(linked, "clip.mp4") == (outside / "clip.mp4").resolve()
