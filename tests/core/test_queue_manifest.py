"""The batch manifest and its checks, without a server: rows, columns, paths, and values against an input spec."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reco_core.queue.journal import DONE, PENDING, QUEUED, SKIPPED, SUBMITTING, Journal
from reco_core.queue.manifest import read_manifest
from reco_core.queue.workflow import Workflow, WorkflowError, convert_value

OBJECT_INFO = {
    "LoadVideo": {"input": {"required": {"file": [["a.mp4"], {"video_upload": True}]}}},
    "ReCoSampler": {"input": {"required": {
        "seed": ["INT", {"min": 0, "max": 2**64 - 1}], "steps": ["INT", {"min": 1, "max": 10000}],
        "cfg": ["FLOAT", {"min": 0.0, "max": 100.0}], "model": ["MODEL", {}],
        "region_mode": ["COMBO", {"options": ["off", "mask", "auto"]}]}}},
    "SaveLatent": {"input": {"required": {"filename_prefix": ["STRING", {"default": "latents/x"}]}}},
}
WORKFLOW = {
    "1": {"class_type": "LoadVideo", "inputs": {"file": "a.mp4"}, "_meta": {"title": "Load Video"}},
    "2": {"class_type": "ReCoSampler", "inputs": {"seed": 0, "steps": 50, "cfg": 5.0, "region_mode": "off"},
          "_meta": {"title": "ReCo Sampler"}},
    "3": {"class_type": "SaveLatent", "inputs": {"filename_prefix": "latents/x"}, "_meta": {"title": "Save"}},
}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"video")
    return tmp_path


def write_workflow(path, graph=None) -> Workflow:
    path.write_text(json.dumps(graph or WORKFLOW))
    return Workflow.load(path)


def test_csv_rows_bind_columns_and_overrides(folder):
    (folder / "jobs.csv").write_text("id,clip,seed,ReCo Sampler.steps,ReCo Sampler.region_mode\n"
                                     "first,clip.mp4,7,30,mask\n,clip.mp4,8,,\n")
    jobs = read_manifest(folder / "jobs.csv")
    workflow = write_workflow(folder / "wf.json")
    values = workflow.check_job(jobs[0], {"s": OBJECT_INFO})
    assert jobs[0].valid, jobs[0].problems
    assert values == {("1", "file"): "clip.mp4", ("2", "seed"): 7, ("2", "steps"): 30, ("2", "region_mode"): "mask"}
    assert jobs[1].job_id == "row0002" and jobs[1].overrides == {}
    graph = workflow.bind(values, {"clip": "rq-abc.mp4"}, jobs[0])
    assert graph["1"]["inputs"]["file"] == "rq-abc.mp4" and graph["2"]["inputs"]["steps"] == 30
    assert WORKFLOW["2"]["inputs"]["steps"] == 50  # the loaded workflow is never modified


@pytest.mark.parametrize(("cell", "column", "phrase"), [
    ("ReCo Sampler.stepz=3", "ReCo Sampler.stepz", "no input 'stepz'"),
    ("ReCo Sampler.steps=0", "ReCo Sampler.steps", "outside the allowed range"),
    ("ReCo Sampler.steps=ten", "ReCo Sampler.steps", "not an integer"),
    ("ReCo Sampler.region_mode=masked", "ReCo Sampler.region_mode", "not one of the choices"),
    ("ReCo Sampler.model=x", "ReCo Sampler.model", "MODEL connection"),
    ("Sampler.seed=1", "Sampler.seed", "no node titled 'Sampler'"),
    ("Save.filename_prefix=../../etc/x", "Save.filename_prefix", "leaves ComfyUI's folders"),
    ("colour=red", "colour", "unknown column"),
])
def test_a_typo_names_the_row_and_column(folder, cell, column, phrase):
    name, value = cell.split("=")
    (folder / "jobs.csv").write_text(f"clip,seed,{name}\nclip.mp4,1,1\nclip.mp4,2,{value}\n")
    jobs = read_manifest(folder / "jobs.csv")
    write_workflow(folder / "wf.json").check_job(jobs[1], {"s": OBJECT_INFO})
    assert [c for c, _ in jobs[1].problems] == [column], jobs[1].problems
    assert phrase in jobs[1].problem_text() and "row 2" in jobs[1].problem_text()


def test_paths_leaving_the_manifest_folder_are_refused(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    (tmp_path / "secret.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "secret.mp4", folder / "link.mp4")
    rows = ['{"clip": "../secret.mp4"}', f'{{"clip": "{tmp_path / "secret.mp4"}"}}', '{"clip": "link.mp4"}',
            '{"clip": "missing.mp4"}', "not json"]
    (folder / "jobs.jsonl").write_text("\n".join(rows))
    reasons = [job.problem_text() for job in read_manifest(folder / "jobs.jsonl")]
    assert "outside the manifest's folder" in reasons[0]
    assert "absolute path" in reasons[1]
    assert "symlink that leads outside" in reasons[2]
    assert "does not exist" in reasons[3]
    assert "not JSON" in reasons[4]


def test_duplicate_ids_and_conflicting_columns(folder):
    (folder / "e.safetensors").write_bytes(b"x")
    (folder / "jobs.jsonl").write_text('{"id": "a", "clip": "clip.mp4"}\n'
                                       '{"id": "a", "instruction": "x", "embeddings": "e.safetensors"}\n')
    jobs = read_manifest(folder / "jobs.jsonl")
    assert jobs[0].valid
    assert {c for c, _ in jobs[1].problems} == {"id", "embeddings"}


def test_workflow_checks(tmp_path):
    with pytest.raises(WorkflowError, match="API-format"):
        write_workflow(tmp_path / "ui.json", {"nodes": [], "links": []})
    workflow = write_workflow(tmp_path / "wf.json")
    with pytest.raises(WorkflowError, match="does not know the nodes SaveLatent"):
        workflow.check_servers({"http://a": {k: v for k, v in OBJECT_INFO.items() if k != "SaveLatent"}})
    missing_choice = {**WORKFLOW, "2": {**WORKFLOW["2"], "inputs": {**WORKFLOW["2"]["inputs"], "region_mode": "of"}}}
    with pytest.raises(WorkflowError, match="server http://a, node 2 .'ReCo Sampler'. input 'region_mode'"):
        write_workflow(tmp_path / "choice.json", missing_choice).check_servers({"http://a": OBJECT_INFO})
    escaping = {**WORKFLOW, "3": {**WORKFLOW["3"], "inputs": {"filename_prefix": "/tmp/x"}}}
    with pytest.raises(WorkflowError, match="leaves ComfyUI's folders"):
        write_workflow(tmp_path / "bad.json", escaping).check_servers({"http://a": OBJECT_INFO})


def test_values_are_converted_to_the_input_type():
    assert convert_value(["FLOAT", {"min": 0.0}], "2.5") == 2.5
    assert convert_value(["BOOLEAN", {}], "false") is False
    assert convert_value([["euler", "dpm"], {}], "dpm") == "dpm"
    with pytest.raises(ValueError, match="not an integer"):
        convert_value(["INT", {}], 2.5)


def test_journal_survives_reopening_and_refuses_changed_jobs(tmp_path):
    journal = Journal(tmp_path / "state.sqlite")
    journal.register("a", 1, "fp1", None)
    journal.register("b", 2, "fp2", "row 2: bad")
    journal.transition("a", SUBMITTING, server="http://s", prompt_id="p1", attempts=1)
    journal.transition("a", QUEUED)
    queue_id = journal.queue_id
    journal.close()
    reopened = Journal(tmp_path / "state.sqlite")
    assert reopened.queue_id == queue_id
    state = reopened.get("a")
    assert (state.state, state.server, state.prompt_id, state.attempts) == (QUEUED, "http://s", "p1", 1)
    assert reopened.get("b").state == SKIPPED
    with pytest.raises(ValueError, match="differs from the run recorded"):
        reopened.register("a", 1, "fp-other", None)
    assert reopened.register("b", 2, "fp2-fixed", None).state == PENDING  # a fixed row runs
    reopened.transition("a", DONE, outputs=["a.latent"])
    assert reopened.get("a").outputs == ["a.latent"]
    assert [e[2] for e in reopened.events("a")] == [PENDING, SUBMITTING, QUEUED, DONE]


def test_the_shipped_example_manifest_addresses_the_shipped_workflow():
    """workflows/batch_example/jobs.csv binds onto workflows/api/reco_edit.json; only its clips are left to the user."""
    repo = Path(__file__).resolve().parents[2]
    workflow = Workflow.load(repo / "workflows" / "api" / "reco_edit.json")
    jobs = read_manifest(repo / "workflows" / "batch_example" / "jobs.csv")
    assert len(jobs) == 3
    for job in jobs:
        bound = workflow.bound_inputs(job)
        assert {column for column, _ in job.problems} <= {"clip"}, job.problems
        assert {column for column, _ in bound.values()} >= {"instruction", "seed"}
