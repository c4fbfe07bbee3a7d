"""`queue --dry-run` checks a whole manifest against a real server's /object_info and sends nothing."""

from __future__ import annotations

import json

from harness.queue_checks import start_client
from harness.queue_jobs import queue_workflow, write_job_folder


def test_dry_run_reports_every_bad_row_and_runs_nothing(comfy_server, tiny_models, source_video, tmp_path):
    (tmp_path / "workflow.json").write_text(json.dumps(queue_workflow(tiny_models)))
    expected = write_job_folder(tmp_path / "jobs", tiny_models, source_video, valid=3)
    history_before = len(comfy_server.get_json("/history"))
    client = start_client(tmp_path / "workflow.json", tmp_path / "jobs" / "jobs.jsonl", tmp_path / "out",
                          "--servers", comfy_server.url, "--dry-run")
    output = client.communicate(timeout=300)[0].decode()
    assert client.returncode == 1, output
    # Found before running: missing and escaping files, unknown titles and inputs, out-of-range values. A corrupt
    # video or a mask of the wrong size is only found by the server, when the job runs.
    caught_early = [job for job, want in expected.items() if not want.valid and "-video-" not in job
                    and "wrong-mask" not in job]
    assert f"{len(expected) - len(caught_early)} of {len(expected)} jobs are valid" in output
    assert output.count("invalid: row ") == len(caught_early), output
    assert "column 'ReCo Sampler.stepz'" in output and "column 'clip'" in output
    assert len(comfy_server.get_json("/history")) == history_before
    assert not (tmp_path / "out" / "queue_state.sqlite").exists()
