"""Checks that the MODEL and CONDITIONING wired into a ReCo node are what ReCo needs, with errors that say the fix."""

from __future__ import annotations


def require_vace_model(model, input_name: str = "model") -> None:
    """ReCo's canvas is conditioned through VACE: a T2V/I2V Wan (or any other model) cannot run it."""
    diffusion_model = getattr(getattr(model, "model", None), "diffusion_model", None)
    if diffusion_model is None or not hasattr(diffusion_model, "vace_blocks"):
        kind = type(diffusion_model).__name__ if diffusion_model is not None else type(model).__name__
        raise ValueError(
            f"{input_name}: this is a {kind}, not a Wan2.1-VACE model. ReCo needs the VACE model: load "
            "wan2.1_vace_1.3B_fp16.safetensors with UNETLoader (a T2V or I2V Wan file will not work)."
        )


def require_vace_conditioning(conditioning, input_name: str) -> None:
    """Without vace_frames the model would see an all-zero control stream and edit nothing."""
    if not conditioning or any("vace_frames" not in options for _, options in conditioning):
        raise ValueError(
            f"{input_name}: this conditioning carries no VACE context. Connect the {input_name} output of "
            "ReCoCanvas (or WanVaceToVideo) here, not the text encoder's output directly."
        )


def require_video_latent(latent: dict, input_name: str = "latent") -> None:
    """An image latent (B, C, H, W) would reach the Wan model and fail there with a bare shape error."""
    shape = tuple(latent["samples"].shape)
    if len(shape) != 5:
        raise ValueError(
            f"{input_name}: this latent is shaped {shape}, an image latent; ReCo samples a Wan video latent "
            "(B, 16, T, H, W). Connect the latent output of ReCoCanvas."
        )


def require_no_context_windows(model, region_mode: str, input_name: str = "model") -> None:
    """Native context windows sample the canvas in slices of frames, where the region constraint cannot follow.

    The constraint acts on self-attentions over the whole canvas; inside a context window the sequence is shorter and
    it would silently do nothing. So it is refused, never dropped.
    """
    if region_mode != "off" and getattr(model, "model_options", {}).get("context_handler") is not None:
        raise ValueError(
            f"{input_name}: this model carries native context windows (WanContextWindowsManual or "
            f"ContextWindowsManual), which sample the canvas in slices of frames, so region_mode {region_mode} "
            "cannot follow them. For a long clip use ReCo Windowed Edit (it carries the edit and the region "
            "constraint into every window), or remove the context-windows node, or set region_mode to off."
        )
