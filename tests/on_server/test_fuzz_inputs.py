"""Fuzzing every ReCo node through the real server's HTTP API: bad input never runs, never hangs, never leaks.

From /object_info, each input of each ReCo node gets wrong types, out-of-range, non-finite and huge numbers, empty,
very long and hostile names; file inputs get crafted files (weights whose header lies, a header length of 2**60,
random bytes, a pickle whose payload must never run, a LoRA of the wrong shapes, embeddings of the wrong width,
videos that are truncated, empty, one frame long or an image in disguise). Every case is accounted for: refused with
an error that names the input or file within 60 s, or, for values that are valid (free text), run. Throughout, the
server keeps serving good prompts, writes nothing outside output/ and temp/, and its memory stays flat.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness import fuzz_cases
from harness import crafted_files as crafted
from harness.comfy_server import ComfyServer, PromptRejected
from harness.fuzz_cases import TARGET, Case, names_input

CASE_TIMEOUT_S = 60
RSS_GROWTH_LIMIT = 0.10


def attempt(server: ComfyServer, case: Case) -> str | None:
    """None when the case ended as it must; otherwise what happened instead."""
    names = case.names or (case.input,)
    try:
        result = server.run(case.graph, timeout=CASE_TIMEOUT_S)
    except PromptRejected as rejected:
        if case.runs:
            return f"a valid value was refused: {rejected.body}"
        errors = rejected.node_errors.get(TARGET, {}).get("errors", [])
        return None if names_input(errors, names) else f"HTTP 400 that does not name {names}: {rejected.body}"
    if result.status == "execution_success":
        return None if case.runs else "it ran"
    if case.runs:
        return f"a valid value failed: {result.status} {result.error}"
    message = (result.error or {}).get("exception_message", "")
    return None if any(name in message for name in names) else f"{result.status} without naming {names}: {message}"


def server_rss_kib(server: ComfyServer) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS for the server process")


def files_outside_outputs(base: Path) -> set[str]:
    """Every file under the server's base folder (models through their link) except output/ and temp/."""
    found = set()
    for root, folders, files in os.walk(base, followlinks=True):
        if Path(root) == base:
            folders[:] = [name for name in folders if name not in ("output", "temp")]
        found.update(str(Path(root, name).relative_to(base)) for name in files)
    return found


def crafted_cases(server: ComfyServer, bases: dict[str, dict], source_video: Path, embeds: Path, marker: Path,
                  scratch: Path) -> list[Case]:
    """Crafted files placed where the loaders, the conditioning loader and the trainer's dataset can name them."""
    lora_key = "blocks.0.self_attn.q.lora_A.default.weight"
    weights = {
        "safetensors whose header lies": ("header_lies.safetensors", crafted.safetensors_header_that_lies()),
        "header length of 2**60": ("huge_header.safetensors", crafted.safetensors_huge_header_length()),
        "zero-byte safetensors": ("zero.safetensors", b""),
        "random bytes as .ckpt": ("random.ckpt", crafted.random_bytes()),
        "pickle carrying code": ("code.ckpt", crafted.pickle_with_code(marker, lora_key)),
        "pickle named .safetensors": ("pickled.safetensors", crafted.pickle_with_code(marker, lora_key)),
    }
    loras = {**weights, "LoRA of wrong shapes": ("wrong_shapes.safetensors", crafted.lora_of_wrong_shapes(scratch))}
    conditionings = {
        **{label: entry for label, entry in weights.items() if entry[0].endswith(".safetensors")},
        "embeddings of the wrong width": ("narrow.safetensors", crafted.embeddings_of_wrong_width(scratch)),
        "safetensors without embeddings": ("other.safetensors", crafted.safetensors_without_embeddings(scratch)),
    }
    videos = {
        "truncated video": ("truncated.mp4", source_video.read_bytes()[: source_video.stat().st_size // 3]),
        "zero-byte video": ("empty.mp4", b""),
        "one-frame video": ("one_frame.mp4", crafted.one_frame_video(scratch)),
        "image renamed .mp4": ("image.mp4", crafted.png_image()),
        "random bytes as .mp4": ("noise.mp4", crafted.random_bytes()),
    }
    cases = []
    for folder, node, name, files in ((server.base / "models" / "loras", "ReCoLoRALoader", "lora_name", loras),
                                      (server.base / "input", "ReCoLoadConditioning", "file", conditionings)):
        (folder / "fuzz").mkdir(parents=True, exist_ok=True)
        for label, (filename, data) in files.items():
            (folder / "fuzz" / filename).write_bytes(data)
            value = f"fuzz/{filename}"
            cases.append(Case(node, name, label, fuzz_cases.with_input(bases[node], name, value),
                              names=(f"{name}:", value)))
    for label, (filename, data) in videos.items():
        dataset = fuzz_cases.write_dataset(server.base / "input" / f"fuzz_video_{Path(filename).stem}", filename,
                                           data, embeds)
        cases.append(Case("ReCoTrainLoRA", "dataset", label,
                          fuzz_cases.with_input(bases["ReCoTrainLoRA"], "dataset", dataset.name),
                          names=(filename, "dataset:")))
    return cases


def crafted_graphs(bases: dict[str, dict]) -> list[Case]:
    """Objects of the right socket type but the wrong content."""
    image_latent = {"image_latent": {"class_type": "EmptyLatentImage", "inputs": {
        "width": 32, "height": 32, "batch_size": 1}}}
    sampler = {**fuzz_cases.with_input(bases["ReCoSampler"], "latent", ["image_latent", 0]), **image_latent}
    masked = fuzz_cases.with_input(bases["ReCoSampler"], "region_mask", ["wrong_mask", 0])
    masked[TARGET]["inputs"]["region_mode"] = "mask"
    return [
        Case("ReCoSampler", "latent", "image latent (B, 4, H, W)", sampler),
        Case("ReCoSampler", "region_mask", "mask of another size", masked),
        Case("ReCoSplit", "region_map", "map of another size",
             fuzz_cases.with_input(bases["ReCoSplit"], "region_map", ["wrong_mask", 0])),
    ]


def test_every_bad_input_ends_as_a_clear_error(comfy_server, tiny_models, source_video, tmp_path):
    outside, scratch = tmp_path / "outside", tmp_path / "scratch"
    outside.mkdir()
    scratch.mkdir()
    marker = tmp_path / "payload_ran"
    object_info = comfy_server.object_info()
    bases = fuzz_cases.prepare_bases(comfy_server.base, tiny_models, source_video.name)
    assert set(bases) == fuzz_cases.reco_node_ids(object_info), "every ReCo node needs a base graph to fuzz"
    file_cases = crafted_cases(comfy_server, bases, source_video, tiny_models.positive, marker, scratch)
    object_info = comfy_server.object_info()  # the crafted files are now among the combo choices

    for node, graph in bases.items():  # each base graph is sound, so a refusal is the bad value's doing
        result = comfy_server.run(graph)
        expected = "execution_error" if node == "ReCoTrainLoRA" else "execution_success"
        assert result.status == expected, (node, result.error)
    assert "no usable rows" in comfy_server.run(bases["ReCoTrainLoRA"]).error["exception_message"]

    files_before = files_outside_outputs(comfy_server.base)
    rss_before = server_rss_kib(comfy_server)
    cases = fuzz_cases.input_cases(object_info, bases, outside) + file_cases + crafted_graphs(bases)
    failures: list[str] = []
    good_runs: list[bool] = []
    seconds: dict[str, float] = {}
    started = time.monotonic()
    for index, case in enumerate(cases):
        begun = time.monotonic()
        problem = attempt(comfy_server, case)
        seconds[case.title] = time.monotonic() - begun
        if problem:
            failures.append(f"{case.title}: {problem}")
        if index + 1 == len(cases) or cases[index + 1].node != case.node:  # after each node's cases: still serving?
            good = fuzz_cases.with_input(bases["ReCoRegionPreview"], "caption", f"good prompt {index}")
            good_runs.append(comfy_server.run(good, timeout=CASE_TIMEOUT_S).status == "execution_success")
    rss_after = server_rss_kib(comfy_server)
    new_files = files_outside_outputs(comfy_server.base) - files_before

    slowest = max(seconds, key=seconds.get)
    print(f"\nfuzz: {len(cases)} cases tried, {len(cases) - len(failures)} passed in {time.monotonic() - started:.0f} s "
          f"(slowest: {slowest}, {seconds[slowest]:.1f} s); "
          f"good prompts served after each node's cases: {sum(good_runs)} of {len(good_runs)}; "
          f"server RSS {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after")
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
    assert all(good_runs)
    assert comfy_server.is_alive()
    assert not marker.exists(), "a crafted pickle's payload ran"
    assert not any(outside.iterdir()), "a file was written outside ComfyUI's folders"
    assert not new_files, f"files written outside output/ and temp/: {sorted(new_files)}"
    assert len(cases) >= 200 and rss_after <= rss_before * (1 + RSS_GROWTH_LIMIT)
