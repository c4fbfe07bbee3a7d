"""The Wan latent format: its arithmetic, its one frame-count message, and that it is the only home of those facts."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest
import torch

from reco_core.wan_latent import (
    WAN21_LATENT_MEAN,
    check_frame_count,
    denormalize_latent,
    latent_frame_of_pixel,
    latent_shape,
    normalize_latent,
    pixel_frame_count,
    token_count,
)

REPO = Path(__file__).resolve().parents[2]
HOME = REPO / "reco_core" / "wan_latent.py"
# Wan's strides (VAE 8 in space, 4 in time, patch 2 -> 16 px per token) as literal operands of stride arithmetic.
STRIDE_LITERALS = {"4", "8", "16"}
STRIDE_OPERATORS = {"*", "//", "%", "/"}
FORMAT_NAMES = ("VAE_STRIDE", "TIME_STRIDE", "PATCH_SIZE", "TOKEN_STRIDE", "LATENT_FRAME_GROUP", "SIZE_MULTIPLE",
                "LATENT_CHANNELS", "WAN21_LATENT_MEAN", "WAN21_LATENT_STD")


def test_full_size_arithmetic():
    assert latent_shape(480, 1664, 81) == (1, 16, 21, 60, 208)
    assert latent_shape(480, 1664, 81, extra_frames=1) == (1, 16, 22, 60, 208)
    assert token_count((1, 16, 21, 60, 208)) == 65_520
    assert pixel_frame_count(21) == 81
    assert latent_frame_of_pixel(torch.arange(9)).tolist() == [0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_one_frame_count_message_names_what_and_the_fix():
    check_frame_count(81, "clip")
    with pytest.raises(ValueError, match=r"^clip has 80 frames, but the Wan VAE needs 4n \+ 1 .*use 77 or 81\.$"):
        check_frame_count(80, "clip")


def test_normalization_round_trips_and_maps_the_mean_to_zero():
    mean = torch.tensor(WAN21_LATENT_MEAN).view(1, 16, 1, 1, 1).expand(1, 16, 2, 3, 4)
    assert normalize_latent(mean).abs().max() < 1e-6
    latent = torch.randn(1, 16, 2, 3, 4)
    assert torch.allclose(denormalize_latent(normalize_latent(latent)), latent, atol=1e-6)


def stride_arithmetic(source: str) -> list[tuple[int, str]]:
    """(line, text) of every 4, 8 or 16 written as an operand of *, //, % or / in code (not strings or comments)."""
    tokens = [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
              if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                    tokenize.DEDENT)]
    hits = []
    for index, token in enumerate(tokens):
        if token.type != tokenize.NUMBER or token.string not in STRIDE_LITERALS:
            continue
        neighbours = {tokens[i].string for i in (index - 1, index + 1) if 0 <= i < len(tokens)}
        if neighbours & STRIDE_OPERATORS:
            hits.append((token.start[0], token.line.strip()))
    return hits


def test_no_wan_stride_or_frame_rule_outside_the_latent_format_module():
    offenders = []
    for path in sorted([*REPO.glob("reco_core/**/*.py"), *REPO.glob("nodes/*.py")]):
        if path == HOME:
            continue
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO)
        offenders += [f"{name}:{line}: {text}" for line, text in stride_arithmetic(source)]
        offenders += [f"{name}: defines {constant}" for constant in FORMAT_NAMES
                      if f"\n{constant} =" in source or f"\n{constant}: " in source]
    assert not offenders, "Wan latent-format facts belong in reco_core/wan_latent.py:\n" + "\n".join(offenders)


def test_the_grep_sees_the_forms_it_forbids():
    assert [line for line, _ in stride_arithmetic("a = (n - 1) // 4 + 1\nb = h * 8\nc = '// 4'  # x % 16\n")] == [1, 2]
