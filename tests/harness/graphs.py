"""API-format graphs for server tests, built from small pieces so each test changes only what it is about."""

from __future__ import annotations

SIZE = dict(width=32, height=32, length=9)


def loaders(tiny_models, video_name: str, unet_name: str | None = None) -> dict:
    return {
        "unet": {"class_type": "UNETLoader",
                 "inputs": {"unet_name": unet_name or tiny_models.vace.name, "weight_dtype": "default"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models.vae.name}},
        "pos": {"class_type": "ReCoLoadConditioning", "inputs": {"file": tiny_models.positive.name}},
        "neg": {"class_type": "ReCoLoadConditioning", "inputs": {"file": tiny_models.negative.name}},
        "load": {"class_type": "LoadVideo", "inputs": {"file": video_name}},
        "parts": {"class_type": "GetVideoComponents", "inputs": {"video": ["load", 0]}},
    }


def canvas(mode: str = "edit", **overrides) -> dict:
    inputs = {"source_frames": ["parts", 0], "vae": ["vae", 0], "positive": ["pos", 0], "negative": ["neg", 0],
              **SIZE, "fit": "stretch", "mode": mode, "start_frame": 0}
    return {"canvas": {"class_type": "ReCoCanvas", "inputs": {**inputs, **overrides}}}


def reco_sampler(model=("unet", 0), seed: int = 7, steps: int = 2, **overrides) -> dict:
    inputs = {"model": list(model), "positive": ["canvas", 0], "negative": ["canvas", 1], "latent": ["canvas", 2],
              "seed": seed, "steps": steps, "cfg": 5.0, "sampler_name": "euler", "scheduler": "simple",
              "shift": 5.0, "denoise": 1.0, "region_mode": "off", "constraint_type": "block", "constraint_strength": 1.0,
              "constraint_start": 0.0, "constraint_end": 1.0, "auto_steps": 1, "auto_threshold": 0.5}
    return {"sampler": {"class_type": "ReCoSampler", "inputs": {**inputs, **overrides}}}


def native_sampler(model=("unet", 0), seed: int = 7, steps: int = 2) -> dict:
    return {
        "shift": {"class_type": "ModelSamplingSD3", "inputs": {"model": list(model), "shift": 5.0}},
        "ksampler": {"class_type": "KSampler", "inputs": {
            "model": ["shift", 0], "seed": seed, "steps": steps, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "simple", "positive": ["canvas", 0], "negative": ["canvas", 1], "latent_image": ["canvas", 2],
            "denoise": 1.0}},
    }


def save_latent(source: tuple[str, int], prefix: str, node: str = "save_latent") -> dict:
    return {node: {"class_type": "SaveLatent", "inputs": {"samples": list(source), "filename_prefix": prefix}}}


def decode_split_save(source: tuple[str, int], prefix: str) -> dict:
    return {
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": list(source), "vae": ["vae", 0]}},
        "split": {"class_type": "ReCoSplit", "inputs": {"canvas_frames": ["decode", 0], "canvas": ["canvas", 3]}},
        "video": {"class_type": "CreateVideo", "inputs": {"images": ["split", 0], "fps": ["parts", 2]}},
        "save": {"class_type": "SaveVideo", "inputs": {
            "video": ["video", 0], "filename_prefix": prefix, "format": "mp4", "codec": "h264"}},
    }


def reco_edit(tiny_models, video_name: str, prefix: str = "video/reco", **sampler_overrides) -> dict:
    return {**loaders(tiny_models, video_name), **canvas(), **reco_sampler(**sampler_overrides),
            **decode_split_save(("sampler", 0), prefix)}


def region_masks(stripes: tuple[tuple[int, int], ...], width: int, height: int) -> dict:
    """Node "region_mask_<n>" per (x, stripe width): a width x height MASK that is 1 on that vertical stripe."""
    nodes = {}
    for index, (x, stripe) in enumerate(stripes, start=1):
        nodes |= {
            f"region_blank_{index}": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": width,
                                                                            "height": height}},
            f"region_patch_{index}": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": stripe,
                                                                            "height": height}},
            f"region_mask_{index}": {"class_type": "MaskComposite", "inputs": {
                "destination": [f"region_blank_{index}", 0], "source": [f"region_patch_{index}", 0], "x": x, "y": 0,
                "operation": "add"}},
        }
    return nodes


def region_instructions(pairs: int = 2, node: str = "regions") -> dict:
    """ReCoRegionInstructions on region_mask_1.. with the positive and negative embeddings as instructions."""
    texts = ("pos", "neg")
    inputs = {}
    for index in range(1, pairs + 1):
        inputs |= {f"mask_{index}": [f"region_mask_{index}", 0], f"instruction_{index}": [texts[(index - 1) % 2], 0]}
    return {node: {"class_type": "ReCoRegionInstructions", "inputs": inputs}}


def windowed_edit(source=("parts", 0), steps: int = 1, **overrides) -> dict:
    """ReCoWindowedEdit on the tiny models: whole clip in 9-frame windows of 32 x 32 halves."""
    inputs = {"model": ["unet", 0], "vae": ["vae", 0], "positive": ["pos", 0], "negative": ["neg", 0],
              "source_frames": list(source), "width": 32, "height": 32, "window_length": 9, "overlap": 1,
              "carry": "first_frame", "fit": "stretch", "seed": 7, "steps": steps, "cfg": 5.0, "sampler_name": "euler",
              "scheduler": "simple", "shift": 5.0, "region_mode": "off", "constraint_type": "block",
              "constraint_strength": 1.0, "constraint_start": 0.0, "constraint_end": 1.0, "auto_steps": 1,
              "auto_threshold": 0.5}
    return {"windowed": {"class_type": "ReCoWindowedEdit", "inputs": {**inputs, **overrides}}}
