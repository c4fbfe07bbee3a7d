"""ReCo-Toy: a synthetic world of paired edit clips with exact ground truth, its dataset writer and its metrics.

Never imports ComfyUI. `world` renders clips, `dataset` writes a training folder, `metrics` scores predictions.
"""
