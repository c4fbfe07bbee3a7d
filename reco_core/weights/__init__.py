"""Weight files: safe loading, and key conversion between ReCo/PEFT, ComfyUI and diffusers layouts."""
