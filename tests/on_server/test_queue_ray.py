"""The Ray path: the same manifest on a local Ray cluster whose two workers each own a ComfyUI server gives the same
exactly-once outcome as plain --servers. Needs the optional extra [cluster] (Ray); skips with that reason without it."""

from __future__ import annotations

import json

import pytest

from harness.comfy_server import comfyui_dir, prepare_base_directory
from harness.queue_checks import check_against_references, check_summary, start_client
from harness.queue_jobs import queue_workflow, write_job_folder

pytest.importorskip("ray", reason="the Ray path needs the optional extra: pip install -e .[cluster]")


def test_manifest_on_a_two_worker_ray_cluster(comfy_server, tiny_models, source_video, tmp_path):
    workflow = queue_workflow(tiny_models)
    (tmp_path / "workflow.json").write_text(json.dumps(workflow))
    expected = write_job_folder(tmp_path / "jobs", tiny_models, source_video, valid=6)
    base = tmp_path / "worker-base"  # what every worker starts from: the models, this package, the fixed inputs
    prepare_base_directory(base, tiny_models.root, [tiny_models.positive, tiny_models.negative])
    client = start_client(tmp_path / "workflow.json", tmp_path / "jobs" / "jobs.jsonl", tmp_path / "out",
                          "--ray", "local", "--ray-workers", "2", "--ray-comfyui", str(comfyui_dir()),
                          "--ray-base", str(base))
    output, _ = client.communicate(timeout=900)
    assert client.returncode == 1, output  # the invalid jobs are reported; every valid one is done
    rows = check_summary(tmp_path / "out", expected)
    assert len({row["server"] for row in rows.values() if row["state"] == "done"}) == 2, "one worker did nothing"
    check_against_references(comfy_server, workflow, expected, tmp_path / "out", tmp_path / "jobs")
