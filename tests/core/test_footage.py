"""The footage rule: decoding size, even sides and the report an artist reads about a span."""

from __future__ import annotations

import pytest
import torch

from reco_core.footage import EditSpan, decode_size, even_size, pad_to_even


@pytest.mark.parametrize(("source", "cover", "expected"), [
    ((1920, 1080), (832, 480), (854, 480)),    # 16:9 onto a 832x480 half: height limits
    ((3840, 2160), (832, 480), (854, 480)),    # 4K decodes no larger than 1080p does
    ((720, 1280), (832, 480), (720, 1280)),    # portrait: covering 832 wide needs all of it, never enlarged
    ((2160, 3840), (832, 480), (832, 1480)),
    ((853, 481), (832, 480), (852, 480)),
    ((64, 48), (32, 32), (43, 32)),
    ((1920, 1080), (0, 0), (1920, 1080)),      # 0: full size
])
def test_decode_size_covers_the_half_and_never_enlarges(source, cover, expected):
    width, height = decode_size(*source, *cover)
    assert (width, height) == expected
    if cover[0]:
        assert width >= min(cover[0], source[0]) and height >= min(cover[1], source[1])


def test_pad_to_even_repeats_the_edge_for_frames_and_masks():
    frames = torch.rand(2, 3, 5, 3)
    padded = pad_to_even(frames)
    assert padded.shape == (2, 4, 6, 3) == (2, *reversed(even_size(5, 3)), 3)
    assert torch.equal(padded[:, :3, :5], frames)
    assert torch.equal(padded[:, 3, :5], frames[:, 2]) and torch.equal(padded[:, :3, 5], frames[:, :, 4])
    assert pad_to_even(torch.rand(2, 3, 5)).shape == (2, 4, 6)
    even = torch.rand(1, 4, 6, 3)
    assert pad_to_even(even) is even


def test_span_timing_and_report():
    span = EditSpan(start=81, frames=81, fps=30000 / 1001, more=True)
    assert span.start_seconds == pytest.approx(2.7027, abs=1e-4) and span.seconds == pytest.approx(2.7027, abs=1e-4)
    report = span.report(853, 481, (832, 480))
    assert "source frames 81..161" in report and "29.97 fps" in report
    assert "start_frame 162" in report                      # what is left out, and how to edit it
    assert "trained on 16 fps" in report                    # how frames are sampled for the model
    assert "854x482" in report and "decoded at 832x480" in report
    quiet = EditSpan(start=0, frames=9, fps=16.0).report(64, 48, (64, 48))
    assert quiet.count("\n") == 0
    assert EditSpan(0, 1, 0.0).seconds == 0.0
