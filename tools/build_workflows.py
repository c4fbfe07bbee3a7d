"""Writes the example workflows: each is one small spec here, rendered in UI format and in API format.

Artists open `workflows/<name>.json` from ComfyUI's Templates browser; headless queues post `workflows/api/<name>.json`
to /prompt. Both files are written from one spec by the generic renderer in `tools/workflow_render.py`, and a server
test checks that the committed files equal what this script writes from the test server's /object_info. A new
example workflow is one more entry in SPECS.

    python tools/build_workflows.py --server http://127.0.0.1:8188   # a ComfyUI running this package (`make run`)
    python tools/build_workflows.py --object-info object_info.json   # a saved /object_info answer
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

# tools/ is not a package: the renderer is imported from beside this file, however this file was loaded.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workflow_render import (  # noqa: E402
    NODE_WIDTH, Link, Node, Note, Workflow, render, to_json,
)

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"
POSITIVE_COLORS = ("#232", "#353")
NEGATIVE_COLORS = ("#322", "#533")


@dataclass(frozen=True)
class ModeImage:
    """The image a ReCoCanvas mode needs: the input it feeds, the file LoadImage opens and what artists are told."""

    canvas_input: str
    file: str
    title: str
    step: str
    note: str


# --- The workflows ---------------------------------------------------------------------------------------------------

INSTRUCTION = "Replace the mallard duck with a majestic white swan."
# Wan's standard negative prompt (Wan2.1's sample_neg_prompt), which ReCo samples with.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，"
    "残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，"
    "三条腿，背景人很多，倒着走"
)
EDIT_LORA = "ReCo_ori_rank128-2025_m12_version.ckpt"
REFERENCE_LORA = "ReCo_ref_rank256-2026_m4_version.ckpt"
SOURCE_VIDEO = "input_video.mp4"
OUTPUT_PREFIX = "video/ReCo"

# Node ids: API-format graphs and saved links refer to nodes by these, so they stay fixed.
UNET, CLIP, VAE, VIDEO, LORA, POSITIVE, NEGATIVE, PARTS, CANVAS, SAMPLER = range(1, 11)
DECODE, SPLIT, CREATE, SAVE, IMAGE, PREVIEW = range(11, 17)
OVERVIEW_NOTE, CANVAS_NOTE, SAMPLER_NOTE, MODE_NOTE = range(20, 24)


def overview(lora: str, image_step: str | None) -> str:
    """The first note an artist reads: the files to put in place, then the steps to a saved edit."""
    steps = [
        "**Models**, in ComfyUI's `models/` folders:\n\n"
        "| file | folder |\n|---|---|\n"
        "| `wan2.1_vace_1.3B_fp16.safetensors` | `diffusion_models` |\n"
        "| `umt5_xxl_fp8_e4m3fn_scaled.safetensors` | `text_encoders` |\n"
        "| `wan_2.1_vae.safetensors` | `vae` |\n"
        f"| `{lora}` | `loras` |",
        "**Video**: choose your clip in *Load Video*.",
        *([image_step] if image_step else []),
        f"**Instruction**: write it in the green node as a plain sentence, with no template, e.g. *{INSTRUCTION}* "
        "Leave the red node as it is: it is Wan's standard negative prompt.",
        "**Queue.** The edit is saved to `output/video/ReCo_*.mp4` at the source's size and frame rate, "
        "with its audio.",
    ]
    numbered = "\n\n".join(f"{number}. {step}" for number, step in enumerate(steps, start=1))
    return f"## ReCo: edit a video from an instruction\n\n{numbered}\n"


CANVAS_TEXT = """*ReCo Canvas* puts the source on the left of a canvas twice as wide and leaves the right half to be \
generated: no mask needed. *ReCo Sampler* denoises both halves together, so the right half copies everything from the \
source except what the instruction changes. *ReCo Split* cuts the edited half out and scales it back to the source size.

`width` and `height` are per half: 832 x 480 and 81 frames are what ReCo was trained on. A longer clip is edited in \
a window of `length` frames from `start_frame`.
"""

SAMPLER_TEXT = """ReCo's defaults: 50 steps, CFG 5, euler, simple, shift 5 (uni_pc with 30 steps also works). \
For a quick look, lower `steps` or the canvas `length`.

If the edit keeps copying the object it should change, set `region_mode` to *auto*: the first steps find where the \
halves differ, and the rest keep that region from attending to the source object.
"""

FIRST_FRAME = ModeImage(
    "edited_first_frame", "edited_first_frame.png", "Edited first frame",
    step="**Edited first frame**: load your edit of the clip's first frame there.",
    note="Edit the clip's first frame yourself (any image editor or image model) and load it here. ReCo keeps that "
    "frame and carries the edit through the whole clip; the instruction should describe the same edit.\n",
)
REFERENCE = ModeImage(
    "reference_image", "reference.png", "Reference image",
    step="**Reference image**: load the image whose subject the edit should use.",
    note="Load the image whose subject the edit should use; any size works (it is letterboxed on white). This mode "
    f"needs the rank-256 LoRA `{REFERENCE_LORA}` in the LoRA loader.\n",
)


def reco_workflow(name: str, mode: str, lora: str, image: ModeImage | None = None) -> Workflow:
    """The ReCo edit graph; the first-frame and reference variants add their image and its note."""
    canvas_inputs: dict[str, object] = {
        "source_frames": Link(PARTS, 0), "vae": Link(VAE, 0),
        "positive": Link(POSITIVE, 0), "negative": Link(NEGATIVE, 0), "mode": mode,
    }
    image_nodes: list[Node | Note] = []
    if image is not None:
        canvas_inputs[image.canvas_input] = Link(IMAGE, 0)
        image_nodes = [Node(IMAGE, "LoadImage", 1, {"image": image.file}, title=image.title, size=(NODE_WIDTH, 320)),
                       Note(MODE_NOTE, 1, f"About the {image.title.lower()}", image.note, (420, 110))]
    nodes: list[Node | Note] = [
        Note(OVERVIEW_NOTE, 0, "Start here", overview(lora, image.step if image else None), (NODE_WIDTH + 80, 340)),
        Node(UNET, "UNETLoader", 0,
             {"unet_name": "wan2.1_vace_1.3B_fp16.safetensors", "weight_dtype": "default"}),
        Node(CLIP, "CLIPLoader", 0,
             {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan", "device": "default"}),
        Node(VAE, "VAELoader", 0, {"vae_name": "wan_2.1_vae.safetensors"}),
        Node(VIDEO, "LoadVideo", 0, {"file": SOURCE_VIDEO}, size=(NODE_WIDTH, 360)),
        Node(LORA, "ReCoLoRALoader", 1, {"model": Link(UNET, 0), "lora_name": lora}),
        Node(POSITIVE, "CLIPTextEncode", 1, {"text": INSTRUCTION, "clip": Link(CLIP, 0)},
             title="Instruction", size=(420, 130), colors=POSITIVE_COLORS),
        Node(NEGATIVE, "CLIPTextEncode", 1, {"text": WAN_NEGATIVE_PROMPT, "clip": Link(CLIP, 0)},
             title="Negative prompt (Wan)", size=(420, 160), colors=NEGATIVE_COLORS),
        Node(PARTS, "GetVideoComponents", 1, {"video": Link(VIDEO, 0)}),
        *image_nodes,
        Note(CANVAS_NOTE, 2, "How ReCo edits", CANVAS_TEXT, (NODE_WIDTH + 40, 190)),
        Node(CANVAS, "ReCoCanvas", 2, canvas_inputs),
        Note(SAMPLER_NOTE, 3, "Sampler settings", SAMPLER_TEXT, (NODE_WIDTH + 40, 150)),
        Node(SAMPLER, "ReCoSampler", 3, {
            "model": Link(LORA, 0), "positive": Link(CANVAS, 0), "negative": Link(CANVAS, 1),
            "latent": Link(CANVAS, 2),
        }),
        Node(DECODE, "VAEDecode", 4, {"samples": Link(SAMPLER, 0), "vae": Link(VAE, 0)}),
        Node(SPLIT, "ReCoSplit", 4, {"canvas_frames": Link(DECODE, 0), "canvas": Link(CANVAS, 3)}),
        Node(CREATE, "CreateVideo", 4, {"images": Link(SPLIT, 0), "fps": Link(PARTS, 2), "audio": Link(PARTS, 1)}),
        Node(SAVE, "SaveVideo", 5, {"video": Link(CREATE, 0), "filename_prefix": OUTPUT_PREFIX},
             size=(480, 420)),
    ]
    return Workflow(name, tuple(nodes))


def region_preview_workflow(name: str) -> Workflow:
    """The edit graph plus ReCoRegionPreview: where the edit happened, played beside the source in the node."""
    edit = reco_workflow(name, "edit", EDIT_LORA)
    nodes = [replace(item, inputs={**item.inputs, "region_map": Link(SAMPLER, 1)}) if item.id == SPLIT else item
             for item in edit.nodes]
    preview = Node(PREVIEW, "ReCoRegionPreview", 5, {
        "frames": Link(SPLIT, 0), "region_map": Link(SPLIT, 2), "source": Link(PARTS, 0), "fps": Link(PARTS, 2),
        "caption": INSTRUCTION,
    }, size=(640, 560))
    return Workflow(name, (*nodes, preview))


# The toy ReCo model shipped in assets/toy/ (installed by set-up), so an edit runs with no download.
TOY_DIT = "reco_toy_wan2.1_vace.safetensors"
TOY_VAE = "reco_toy_wan_2.1_vae.safetensors"
TOY_LORA = "reco_toy_lora.safetensors"
TOY_TEXT_ENCODER = "reco_toy_text_encoder.safetensors"
TOY_VIDEO = "demo_source.mp4"
TOY_INSTRUCTION = "Remove the purple circle."  # the demo clip's (reco_core/toy/demo.py)
TOY_CANVAS = {"width": 96, "height": 96, "length": 9}
TOY_SAMPLER = {"seed": 0, "steps": 20, "cfg": 1.0, "shift": 3.0}  # what the toy trained and is measured at
TOY_PREFIX = "video/ReCo_toy"
REGION_VIDEO, REGION_SAVE = 17, 18

TOY_OVERVIEW = f"""## ReCo-Toy: a small model that really edits

Everything is in place after `make run`: the toy Wan2.1-VACE, its VAE, its ReCo LoRA and its word-level text \
encoder in ComfyUI's `models/` folders, and a held-out clip of its synthetic world, `{TOY_VIDEO}`, in `input/`.

1. **Queue.** The edit is saved to `output/{TOY_PREFIX}_*.mp4`, and the region where the halves differ, drawn over \
the edit, to `output/{TOY_PREFIX}_region_*.mp4`.
2. **Change the instruction** in the green node. The toy knows only its world's words: add, remove, replace \
(*Replace the blue square with a green triangle.*), and styles (*Make it look like a pencil sketch.*).

The toy works at 96 x 96 pixels per half and 9 frames. For real videos, open `reco_edit` with the Wan weights.
"""

TOY_CANVAS_TEXT = """*ReCo Canvas* puts the source on the left of a canvas twice as wide and leaves the right half to be \
generated. *ReCo Sampler* denoises both halves together, so the right half copies everything from the source except \
what the instruction changes. *ReCo Split* cuts the edited half out; *ReCo Region Preview* plays source | edit | \
region side by side. The toy was trained at 96 x 96 per half and 9 frames: keep those sizes.
"""

TOY_SAMPLER_TEXT = f"""The toy's settings: {TOY_SAMPLER["steps"]} steps, CFG {TOY_SAMPLER["cfg"]}, euler, simple, \
shift {TOY_SAMPLER["shift"]}. \
The negative is the empty text (all zeros), which is what the toy was trained to drop to.

`region_mode` *auto* finds where the halves differ in the first steps and keeps that region from attending to the \
source object; compare it with *off* on the same seed.
"""


def toy_workflow(name: str) -> Workflow:
    """The region-preview graph on the toy model: its files, its text encoder, its sizes, and the region saved too."""
    notes = {OVERVIEW_NOTE: TOY_OVERVIEW, CANVAS_NOTE: TOY_CANVAS_TEXT, SAMPLER_NOTE: TOY_SAMPLER_TEXT}
    settings = {UNET: {"unet_name": TOY_DIT}, VAE: {"vae_name": TOY_VAE}, LORA: {"lora_name": TOY_LORA},
                VIDEO: {"file": TOY_VIDEO}, CANVAS: TOY_CANVAS, SAMPLER: TOY_SAMPLER,
                SAVE: {"filename_prefix": TOY_PREFIX}, PREVIEW: {"caption": TOY_INSTRUCTION}}
    nodes: list[Node | Note] = []
    for item in region_preview_workflow(name).nodes:
        if item.id == CLIP:
            continue
        if item.id == POSITIVE:
            item = replace(item, class_type="ReCoToyTextEncode", size=(420, 130),
                           inputs={"encoder_name": TOY_TEXT_ENCODER, "text": TOY_INSTRUCTION})
        elif item.id == NEGATIVE:  # the toy was trained with an empty (all-zero) text for guidance
            item = replace(item, class_type="ConditioningZeroOut", title="No text", size=None,
                           inputs={"conditioning": Link(POSITIVE, 0)})
        elif item.id in notes:
            item = replace(item, text=notes[item.id])
        elif item.id in settings:
            item = replace(item, inputs={**item.inputs, **settings[item.id]})
        nodes.append(item)
    nodes += [
        Node(REGION_VIDEO, "CreateVideo", 6, {"images": Link(PREVIEW, 0), "fps": Link(PARTS, 2)},
             title="Region video"),
        Node(REGION_SAVE, "SaveVideo", 6, {"video": Link(REGION_VIDEO, 0), "filename_prefix": f"{TOY_PREFIX}_region"},
             title="Save region video", size=(480, 420)),
    ]
    return Workflow(name, tuple(nodes))


# Whole clips in windows, and stills: ReCoWindowedEdit in place of Canvas -> Sampler -> Decode -> Split.
WINDOWED, SAVE_IMAGE, WINDOW_NOTE = 40, 41, 42
SOURCE_IMAGE = "input_image.png"
IMAGE_PREFIX = "ReCo_image"

WINDOW_TEXT = """*ReCo Windowed Edit* edits the whole clip, however long, in windows of `window_length` frames (81, what \
ReCo was trained on). With `carry` *blend* (the default) the windows are edited on their own and their `overlap` \
frames cross-faded; *first_frame* starts each window from the last `overlap` edited frames of the one before. \
The progress bar counts every step of every window. `region_mode` works as in *ReCo Sampler*, in every window.
"""

IMAGE_TEXT = """Each image is edited as a one-frame clip (`window_length` 1, `overlap` 0): a batch of images is a \
batch of independent edits, not a clip. The edit comes back at the image's own size (`even_size` off).
"""


def edit_nodes(lora: str, first_column: tuple[Node | Note, ...]) -> list[Node | Note]:
    """Loaders, LoRA and the two prompts, as in the edit graph; ``first_column`` adds the source loader."""
    return [
        Node(UNET, "UNETLoader", 0,
             {"unet_name": "wan2.1_vace_1.3B_fp16.safetensors", "weight_dtype": "default"}),
        Node(CLIP, "CLIPLoader", 0,
             {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan", "device": "default"}),
        Node(VAE, "VAELoader", 0, {"vae_name": "wan_2.1_vae.safetensors"}),
        *first_column,
        Node(LORA, "ReCoLoRALoader", 1, {"model": Link(UNET, 0), "lora_name": lora}),
        Node(POSITIVE, "CLIPTextEncode", 1, {"text": INSTRUCTION, "clip": Link(CLIP, 0)},
             title="Instruction", size=(420, 130), colors=POSITIVE_COLORS),
        Node(NEGATIVE, "CLIPTextEncode", 1, {"text": WAN_NEGATIVE_PROMPT, "clip": Link(CLIP, 0)},
             title="Negative prompt (Wan)", size=(420, 160), colors=NEGATIVE_COLORS),
    ]


def windowed_inputs(source: Link, **widgets: object) -> dict[str, object]:
    return {"model": Link(LORA, 0), "vae": Link(VAE, 0), "positive": Link(POSITIVE, 0),
            "negative": Link(NEGATIVE, 0), "source_frames": source, **widgets}


def long_clip_workflow(name: str) -> Workflow:
    """A whole clip of any length in one graph: Load Video -> ReCo Windowed Edit -> Create Video -> Save Video."""
    steps = overview(EDIT_LORA, None).replace("## ReCo: edit a video from an instruction",
                                              "## ReCo: edit a whole clip of any length")
    nodes = [
        Note(OVERVIEW_NOTE, 0, "Start here", steps, (NODE_WIDTH + 80, 340)),
        *edit_nodes(EDIT_LORA, (Node(VIDEO, "LoadVideo", 0, {"file": SOURCE_VIDEO}, size=(NODE_WIDTH, 360)),)),
        Node(PARTS, "GetVideoComponents", 1, {"video": Link(VIDEO, 0)}),
        Note(WINDOW_NOTE, 2, "How long clips are edited", WINDOW_TEXT, (NODE_WIDTH + 40, 220)),
        Node(WINDOWED, "ReCoWindowedEdit", 2, windowed_inputs(Link(PARTS, 0))),
        Node(CREATE, "CreateVideo", 3, {"images": Link(WINDOWED, 0), "fps": Link(PARTS, 2), "audio": Link(PARTS, 1)}),
        Node(SAVE, "SaveVideo", 4, {"video": Link(CREATE, 0), "filename_prefix": OUTPUT_PREFIX}, size=(480, 420)),
    ]
    return Workflow(name, tuple(nodes))


def image_workflow(name: str) -> Workflow:
    """A still (or a batch of independent stills): Load Image -> ReCo Windowed Edit, one frame each -> Save Image."""
    steps = (f"## ReCo: edit an image from an instruction\n\n1. **Models**: as in `reco_edit` (`{EDIT_LORA}` in "
             "`loras`).\n\n2. **Image**: choose it in *Load Image*.\n\n3. **Instruction**: write it in the green "
             f"node, e.g. *{INSTRUCTION}*\n\n4. **Queue.** The edit is saved to `output/{IMAGE_PREFIX}_*.png` at the "
             "image's size.\n")
    nodes = [
        Note(OVERVIEW_NOTE, 0, "Start here", steps, (NODE_WIDTH + 80, 300)),
        *edit_nodes(EDIT_LORA, (Node(IMAGE, "LoadImage", 0, {"image": SOURCE_IMAGE}, size=(NODE_WIDTH, 320)),)),
        Note(WINDOW_NOTE, 2, "Stills", IMAGE_TEXT, (NODE_WIDTH + 40, 130)),
        Node(WINDOWED, "ReCoWindowedEdit", 2, windowed_inputs(Link(IMAGE, 0), window_length=1, overlap=0,
                                                              even_size=False)),
        Node(SAVE_IMAGE, "SaveImage", 3, {"images": Link(WINDOWED, 0), "filename_prefix": IMAGE_PREFIX},
             size=(480, 420)),
    ]
    return Workflow(name, tuple(nodes))


SPECS = (
    reco_workflow("reco_edit", "edit", EDIT_LORA),
    reco_workflow("reco_edit_first_frame", "first_frame", EDIT_LORA, FIRST_FRAME),
    reco_workflow("reco_edit_reference", "reference", REFERENCE_LORA, REFERENCE),
    region_preview_workflow("reco_region_preview"),
    toy_workflow("reco_toy_edit"),
    long_clip_workflow("reco_edit_long"),
    image_workflow("reco_edit_image"),
)


# Several edits at once: two (mask, instruction) pairs on top of the canvas instruction.
MULTI_INSTRUCTION = "Replace the mallard duck with a white swan and make the water golden."
REGION_EDITS = (("region_duck.png", "Replace the mallard duck with a majestic white swan."),
                ("region_water.png", "Make the water golden, lit by the setting sun."))
REGIONS = 30
REGION_MASKS = (31, 32)
REGION_TEXTS = (33, 34)
REGIONS_NOTE = 35

REGIONS_TEXT = """*ReCo Region Instructions*: one instruction per region. Each mask (white = the region, drawn on the \
source video's size; load it with *Load Image (as Mask)*, or paint it in the mask editor) gets its own instruction, \
and *ReCo Sampler* edits all regions in one pass: a region's pixels attend only to their own instruction and are kept \
from the other regions' source objects. The rest of the canvas follows the green instruction, which can describe the \
whole change. Regions must not overlap. Up to four pairs.
"""


def multi_edit_workflow(name: str) -> Workflow:
    """The edit graph with two regions, each with its own instruction, bound in ReCoSampler."""
    nodes: list[Node | Note] = []
    for item in reco_workflow(name, "edit", EDIT_LORA).nodes:
        if item.id == POSITIVE:
            item = replace(item, inputs={**item.inputs, "text": MULTI_INSTRUCTION})
        elif item.id == SAMPLER:
            item = replace(item, column=4, inputs={**item.inputs, "region_instructions": Link(REGIONS, 0)})
        elif item.id == SAMPLER_NOTE:
            item = replace(item, column=4)
        elif item.column >= 4:
            item = replace(item, column=item.column + 1)
        nodes.append(item)
    pairs: dict[str, object] = {}
    for index, (mask_id, text_id, (mask_file, text)) in enumerate(zip(REGION_MASKS, REGION_TEXTS, REGION_EDITS), 1):
        nodes += [
            Node(mask_id, "LoadImageMask", 2, {"image": mask_file, "channel": "red"}, title=f"Region {index} mask",
                 size=(NODE_WIDTH, 320)),
            Node(text_id, "CLIPTextEncode", 2, {"text": text, "clip": Link(CLIP, 0)}, title=f"Region {index} "
                 "instruction", size=(420, 130), colors=POSITIVE_COLORS),
        ]
        pairs.update({f"mask_{index}": Link(mask_id, 0), f"instruction_{index}": Link(text_id, 0)})
    nodes += [Node(REGIONS, "ReCoRegionInstructions", 3, pairs),
              Note(REGIONS_NOTE, 3, "Several edits at once", REGIONS_TEXT, (NODE_WIDTH + 40, 230))]
    return Workflow(name, tuple(nodes))


SPECS = (*SPECS, multi_edit_workflow("reco_multi_edit"))


# --- Writing the files -----------------------------------------------------------------------------------------------

def build(object_info: dict) -> dict[str, tuple[dict, dict]]:
    """Every example workflow as {name: (UI format, API format)}, shaped by the given /object_info."""
    return {workflow.name: render(workflow, object_info) for workflow in SPECS}


def file_texts(object_info: dict) -> Iterable[tuple[Path, str]]:
    """Each workflow file's path and exact text."""
    for name, (ui, api) in build(object_info).items():
        yield WORKFLOWS / f"{name}.json", to_json(ui)
        yield WORKFLOWS / "api" / f"{name}.json", to_json(api)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--object-info", type=Path, help="a saved answer of ComfyUI's /object_info")
    source.add_argument("--server", help="URL of a running ComfyUI with this package, e.g. http://127.0.0.1:8188")
    args = parser.parse_args()
    if args.server:
        with urllib.request.urlopen(args.server.rstrip("/") + "/object_info", timeout=60) as response:
            object_info = json.load(response)
    else:
        object_info = json.loads(args.object_info.read_text())
    for path, text in file_texts(object_info):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
