"""The training data path: manifest validation on real (and broken) mp4 files, items, latent masks, cache, buckets.

Videos are real H.264 files written through ffmpeg; latents come from the tiny Wan VAE. That VAE has random weights,
so k-means on its encoding of a mask video does not recover the square (checked: the clusters are arbitrary cells).
The latent-mask test therefore swaps in an 8 x 8 average-pooling encoder, under which the square's cells are exactly
the high cluster: it checks the placement through the canvas geometry and the wiring into `kmeans_latent_mask`, whose
clustering itself is tested in test_regions.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from reco_core.canvas import CanvasSpec, build_canvas
from reco_core.pipeline import WanVaceCodec
from reco_core.text_embeddings import load_text_embeddings
from reco_core.training.buckets import Bucket, BucketBatchSampler, assign_buckets
from reco_core.training.cache import cache_key, file_digest
from reco_core.training.dataset import ReCoTrainingSet
from reco_core.training.manifest import ManifestError, load_manifest, validate_manifest
from reco_core.vace_context import vace_context
from reco_core.video_io import read_video, write_video
from reco_core.wan_latent import normalize_latent
from reco_core.wan_models import load_vae

SPEC = CanvasSpec(half_width=32, height=32, length=9)
FRAMES, HEIGHT, WIDTH = 9, 32, 48
# The edited square in source pixels (rows, columns); stretched into the 32-wide half it covers columns 8..24, i.e.
# latent cells 1..2 in both directions of the 4 x 4 half grid.
SQUARE = (slice(8, 24), slice(12, 36))
SQUARE_CELLS = (slice(1, 3), slice(1, 3))


def clip(color: tuple[float, float, float], frames: int = FRAMES, width: int = WIDTH) -> torch.Tensor:
    """A gray gradient with a colored square, the edit being the square's color."""
    pixels = torch.linspace(0.2, 0.6, width).expand(frames, HEIGHT, width).unsqueeze(-1).repeat(1, 1, 1, 3)
    pixels[:, SQUARE[0], SQUARE[1]] = torch.tensor(color)
    return pixels


def square_mask() -> torch.Tensor:
    mask = torch.zeros(FRAMES, HEIGHT, WIDTH, 3)
    mask[:, SQUARE[0], SQUARE[1]] = 1.0
    return mask


ROWS = [
    # 0-2 are good: a masked replace, a style edit (its mask must be ignored), a row for the text encoder.
    {"src_video": "src.mp4", "tar_video": "tar.mp4", "mask_video": "masks/mask.mp4", "task": "replace",
     "instruction": "Replace the red square.", "instruction_final_refine": "Make the red square blue.",
     "prompt_embeds": "embeds.safetensors"},
    {"src_video": "src.mp4", "tar_video": "tar.mp4", "mask_video": "masks/mask.mp4", "task": "Style",
     "instruction": "Make it a watercolor.", "prompt_embeds": "embeds.safetensors"},
    {"src_video": "src.mp4", "tar_video": "tar.mp4", "instruction": "Make the red square blue."},
    # 3-12 are bad, one reason each.
    {"src_video": "src.mp4", "tar_video": "missing.mp4", "instruction": "x"},
    {"src_video": "garbage.mp4", "tar_video": "tar.mp4", "instruction": "x"},
    {"src_video": "src.mp4", "tar_video": "short.mp4", "instruction": "x"},
    {"src_video": "../outside.mp4", "tar_video": "tar.mp4", "instruction": "x"},
    {"src_video": "ABSOLUTE", "tar_video": "tar.mp4", "instruction": "x"},
    {"src_video": "src.mp4", "tar_video": "tar.mp4"},
    "NOT JSON {",
    {"src_video": "short.mp4", "tar_video": "short.mp4", "instruction": "x"},
    {"src_video": "src.mp4", "tar_video": "tar.mp4", "mask_video": "short.mp4", "instruction": "x"},
    {"src_video": "src.mp4", "tar_video": "wide.mp4", "instruction": "x"},
]
# index -> (field, words the reason must contain)
EXPECTED_BAD = {
    3: ("tar_video", "does not exist"),
    4: ("src_video", "not a readable video"),
    5: ("tar_video", "5 frames, the source 9"),
    6: ("src_video", "outside the dataset folder"),
    7: ("src_video", "outside the dataset folder"),
    8: ("instruction", "missing"),
    9: ("row", "not valid JSON"),
    10: ("src_video", "too few frames"),
    11: ("mask_video", "5 frames, the source 9"),
    12: ("tar_video", "64x32, the source 48x32"),
}


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("training")
    folder = root / "data"
    (folder / "masks").mkdir(parents=True)
    write_video(folder / "src.mp4", clip((0.9, 0.1, 0.1)), 16)
    write_video(folder / "tar.mp4", clip((0.1, 0.1, 0.9)), 16)
    write_video(folder / "masks" / "mask.mp4", square_mask(), 16)
    write_video(folder / "short.mp4", clip((0.9, 0.1, 0.1), frames=5), 16)
    write_video(folder / "wide.mp4", clip((0.1, 0.1, 0.9), width=64), 16)
    write_video(root / "outside.mp4", clip((0.9, 0.1, 0.1)), 16)
    (folder / "garbage.mp4").write_bytes(b"\x00\x01 this is not a video" * 50)
    (folder / "embeds.safetensors").write_bytes(tiny_models.positive.read_bytes())
    lines = [row if isinstance(row, str) else json.dumps(row).replace("ABSOLUTE", str(root / "outside.mp4"))
             for row in ROWS]
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def report(dataset_folder):
    return validate_manifest(dataset_folder, SPEC)


@pytest.fixture(scope="module")
def codec(tiny_models):
    vae = load_vae(tiny_models.vae)
    return WanVaceCodec(vae, torch.device("cpu"), vae.dtype)


class CountingCodec:
    """Passes encodes through and counts them, to tell cache hits from misses."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner.encode(frames)


class PoolingEncoder:
    """A stand-in VAE with the Wan layout: 8 x 8 average pooling, frame 0 alone then groups of 4, 16 equal channels.

    ``last`` keeps the frames of the latest call, which for a masked row is the placed mask video.
    """

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        self.last = frames
        gray = F.avg_pool2d(frames.mean(dim=-1).unsqueeze(1), 8).squeeze(1)
        grouped = torch.cat((gray[:1], gray[1:].reshape(-1, 4, *gray.shape[1:]).mean(dim=1)))
        return grouped.expand(1, 16, *grouped.shape).clone()


@pytest.fixture(scope="module")
def first_pass(dataset_folder, report, codec, tmp_path_factory):
    """Every good row's item, computed once through a fresh cache by a codec and text encoder that count calls."""
    cache_dir, counting, prompts = tmp_path_factory.mktemp("cache"), CountingCodec(codec), []
    dataset = make_set(dataset_folder, report.ok_rows, counting, cache_dir, text_encoder=text_encoder(prompts),
                       text_encoder_id="test-encoder")
    return SimpleNamespace(items=[dataset[i] for i in range(3)], codec=counting, prompts=prompts, cache_dir=cache_dir)


def text_encoder(counter: list[str]):
    def encode(text: str) -> torch.Tensor:
        counter.append(text)
        return torch.full((1, 7, 4096), float(len(text)))
    return encode


def make_set(folder, rows, codec, cache_dir, **options) -> ReCoTrainingSet:
    return ReCoTrainingSet(folder, rows, lambda i: SPEC, codec, cache_dir=cache_dir, codec_id="tiny-vae", **options)


def test_validation_names_every_bad_row_with_its_reason(report):
    assert [row.index for row in report.ok_rows] == [0, 1, 2]
    assert report.source_sizes == [(WIDTH, HEIGHT, FRAMES)] * 3
    found = {index: (name, reason) for index, name, reason in report.bad_rows}
    assert len(report.bad_rows) == len(found) == len(EXPECTED_BAD)
    for index, (name, words) in EXPECTED_BAD.items():
        assert found[index][0] == name and words in found[index][1], (index, found[index])
    text = report.format()
    assert text.startswith("3 of 13 manifest rows usable, 10 excluded:")
    assert "12  tar_video    target is 64x32, the source 48x32" in text


def test_rows_read_like_reco_data(report):
    replace, style, plain = report.ok_rows
    assert replace.instruction == "Make the red square blue."  # instruction_final_refine wins over instruction
    assert (replace.mask_video, replace.task, style.task) == ("masks/mask.mp4", "replace", "style")
    assert plain.instruction == "Make the red square blue." and plain.prompt_embeds is None and plain.task is None


def test_manifest_json_list_and_file_level_errors(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps([{"src_video": "a.mp4", "instruction": "Remove it."}, 3]))
    rows = load_manifest(tmp_path)
    assert (rows[0].index, rows[0].src_video, rows[0].instruction) == (0, "a.mp4", "Remove it.")
    assert rows[1].problems == (("row", "must be a JSON object, got int"),)
    (tmp_path / "manifest.jsonl").write_text("{}\n")
    with pytest.raises(ManifestError, match="both manifest.json and manifest.jsonl"):
        load_manifest(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match="has no manifest"):
        load_manifest(empty)


def test_items_match_the_inference_canvas(dataset_folder, codec, first_pass, tiny_models):
    item = first_pass.items[0]
    assert item["x0"].shape == (16, 3, 4, 8)
    assert item["context"].shape == (96, 3, 4, 8)
    assert item["prompt_embeds"].shape == (12, 4096)
    assert item["latent_mask"].shape == (3, 4, 4) and set(item["latent_mask"].unique().tolist()) <= {0.0, 1.0}
    assert (item["task"], item["index"]) == ("replace", 0)
    assert torch.equal(item["prompt_embeds"], load_text_embeddings(tiny_models.positive).embeds[0])

    source, _ = read_video(dataset_folder / "src.mp4")
    target, _ = read_video(dataset_folder / "tar.mp4")
    canvas = build_canvas(source, SPEC)
    inference = vace_context(codec.encode, canvas.control, canvas.mask).model_context()[0]
    assert torch.allclose(item["context"], inference, atol=1e-6)
    pair = torch.cat((canvas.control[:, :, :32], build_canvas(target, SPEC).control[:, :, :32]), dim=2)
    assert torch.allclose(item["x0"], normalize_latent(codec.encode(pair))[0], atol=1e-6)


def test_style_edits_and_maskless_rows_get_all_ones(first_pass):
    assert (first_pass.items[1]["task"], first_pass.items[2]["task"]) == ("style", "")
    for item in first_pass.items[1:]:
        assert torch.equal(item["latent_mask"], torch.ones(3, 4, 4))
    assert first_pass.items[2]["prompt_embeds"].shape == (7, 4096)


def test_latent_mask_marks_the_square_cells_on_one_half(dataset_folder, report, tmp_path):
    plain, dilated = PoolingEncoder(), PoolingEncoder()
    mask = make_set(dataset_folder, report.ok_rows[:1], plain, tmp_path)[0]["latent_mask"]
    expected = torch.zeros(3, 4, 4)
    expected[:, SQUARE_CELLS[0], SQUARE_CELLS[1]] = 1.0
    assert torch.equal(mask, expected)
    # The mask video was placed like the source: 48 -> 32 columns, 9 frames, square at rows/columns 8..24.
    assert plain.last.shape == (9, 32, 32, 3)
    assert plain.last[:, 10:22, 10:22].min() > 0.9 and plain.last[:, :, :6].max() < 0.1
    # 11 x 11 dilation grows the square by 5 source pixels before placement: row 4 is now inside.
    make_set(dataset_folder, report.ok_rows[:1], dilated, tmp_path / "dilated", dilate_masks=True)[0]
    assert plain.last[:, 4, 16].max() < 0.1 and dilated.last[:, 4, 16].min() > 0.9


def test_second_pass_is_served_from_the_cache(dataset_folder, report, codec, first_pass):
    # The mask costs one encode; rows 1 and 2 share their videos and use no mask, so row 2 hits row 1's entry.
    assert first_pass.codec.calls == 4 + 3 and first_pass.prompts == ["Make the red square blue."]
    again, prompts = CountingCodec(codec), []
    dataset = make_set(dataset_folder, report.ok_rows, again, first_pass.cache_dir, text_encoder=text_encoder(prompts),
                       text_encoder_id="test-encoder")
    for old, new in zip(first_pass.items, (dataset[i] for i in range(3))):
        assert all(torch.equal(old[k], new[k]) for k in ("x0", "context", "prompt_embeds", "latent_mask"))
    assert again.calls == 0 and prompts == []


def test_cache_key_covers_bytes_spec_and_version(tmp_path):
    video = tmp_path / "v.bin"
    video.write_bytes(b"one")
    before = file_digest(video)
    video.write_bytes(b"two")
    assert file_digest(video) != before
    base = {"src": before, "spec": {"half_width": 32}, "codec": "a"}
    assert cache_key(base) == cache_key(dict(reversed(base.items())))
    assert cache_key(base) != cache_key({**base, "spec": {"half_width": 48}})
    assert cache_key(base) != cache_key({**base, "codec": "b"})


def test_rows_without_embeddings_need_a_text_encoder(dataset_folder, report, codec, tmp_path):
    with pytest.raises(ValueError, match=r"rows \[2\] have no prompt_embeds"):
        make_set(dataset_folder, report.ok_rows, codec, tmp_path)
    with pytest.raises(ValueError, match="text_encoder_id"):
        make_set(dataset_folder, report.ok_rows, codec, tmp_path, text_encoder=text_encoder([]))


def test_buckets_pick_the_nearest_shape_that_fits_the_frames():
    sizes = [(1280, 720, 81), (832, 480, 60), (480, 270, 40), (640, 360, 49), (832, 480, 33)]
    assert assign_buckets(sizes) == [0, 1, 3, 2, 3]
    with pytest.raises(ValueError, match=r"positions \[1\] have fewer than 33 frames"):
        assign_buckets([(832, 480, 81), (832, 480, 20)])
    with pytest.raises(ValueError, match="4n \\+ 1"):
        Bucket(832, 480, 50)


def test_sampler_is_deterministic_single_bucket_and_resumes_exactly():
    assignment = [0, 1, 0, 2, 1, 0, 0, 2, 1, 0]
    make = lambda seed=7: BucketBatchSampler(assignment, batch_size=2, seed=seed)
    straight = make()
    epochs = [list(straight) for _ in range(2)]
    assert epochs[0] == make().epoch_batches(0) and epochs[1] == make().epoch_batches(1)
    assert epochs[0] != epochs[1] and make(seed=8).epoch_batches(0) != epochs[0]
    for batches in epochs:
        assert sorted(i for batch in batches for i in batch) == list(range(len(assignment)))
        assert all(len({assignment[i] for i in batch}) == 1 for batch in batches)

    interrupted = make()
    taken = []
    for batch in interrupted:
        taken.append(batch)
        if len(taken) == 3:
            break
    state = json.loads(json.dumps(interrupted.state_dict()))
    resumed = make()
    resumed.load_state_dict(state)
    rest = list(resumed) + list(resumed)
    assert taken + rest == epochs[0] + epochs[1]
    with pytest.raises(ValueError, match="another dataset"):
        make(seed=8).load_state_dict(state)
    assert len(BucketBatchSampler(assignment, batch_size=2, drop_last=True)) == 4
