"""`python -m reco_core eval` as a user runs it: a real subprocess on a tiny written split, its table and its JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from reco_core.toy.dataset import write_split


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reco_core", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("toy"), "test", 4, frames=5, size=48)


def test_eval_prints_the_table_and_writes_strict_json(toy_folder, tmp_path):
    edited, unchanged = tmp_path / "edited", tmp_path / "unchanged"
    shutil.copytree(toy_folder / "tar", edited)
    shutil.copytree(toy_folder / "src", unchanged)
    (unchanged / "test-000000-add.mp4").unlink()
    report = tmp_path / "eval.json"

    done = run_cli("eval", str(toy_folder), "--pred", f"edited={edited}", "--pred", f"unchanged={unchanged}",
                   "--json", str(report))
    assert done.returncode == 0, done.stderr
    assert "'unchanged' lacks 1 clips" in done.stderr
    for needle in ("3 of 4 clips scored", "copy source", "true target (mp4)", "edited", "unchanged", "overall"):
        assert needle in done.stdout

    result = json.loads(report.read_text(), parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    summary = result["summary"]
    assert result["scored"] == 3 and result["missing"] == {"unchanged": ["test-000000-add"]}
    assert summary["edited"]["overall"]["iou"] > summary["unchanged"]["overall"]["iou"] + 0.5
    assert summary["edited"]["overall"]["target_psnr"] > summary["unchanged"]["overall"]["target_psnr"] + 10
    assert summary["edited"]["style"]["iou"] is None and "add" not in summary["edited"]


def test_eval_refuses_bad_arguments_with_exit_status_2(toy_folder, tmp_path):
    done = run_cli("eval", str(toy_folder), "--pred", str(tmp_path))
    assert done.returncode == 2 and "must read LABEL=DIR" in done.stderr
    done = run_cli("eval", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "toy dataset folder" in done.stderr
    assert not list(tmp_path.iterdir())
