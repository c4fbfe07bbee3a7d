"""``python -m reco_core eval MANIFEST [--pred LABEL=DIR ...] [--json OUT]``: score toy edits against exact truth.

MANIFEST is a toy dataset folder (or its manifest.json) written by `reco_core.toy.dataset.write_split`; each
``--pred`` folder holds ``<clip_id>.mp4`` per edited clip, at the source's size. The table always carries the "copy
source" and "true target (mp4)" reference rows, so a model's numbers read against doing nothing and against the
codec's ceiling. Exit status 2 for unusable input, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..toy.metrics import evaluate, format_table

EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``eval`` subcommand's arguments."""
    parser.add_argument("manifest", type=Path, help="toy dataset folder or its manifest.json (ground-truth keys)")
    parser.add_argument(
        "--pred",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="a folder of predicted <clip_id>.mp4 files and the row label it gets in the table; repeatable",
    )
    parser.add_argument("--json", type=Path, help="also write the full result (summary and per clip) to this file")


def run(args: argparse.Namespace) -> int:
    """Print the table (and write JSON); 0 on success, 2 for bad input."""
    try:
        predictions = dict(_label_and_folder(text) for text in args.pred)
        if len(predictions) < len(args.pred):
            raise ValueError("two --pred options share a label; give each folder its own LABEL=DIR.")
        result = evaluate(args.manifest, predictions)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for label, absent in result["missing"].items():
        print(f"warning: {label!r} lacks {len(absent)} clips (e.g. {absent[0]}.mp4); they are left out of every row.",
              file=sys.stderr)
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(_finite(result), indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


def _label_and_folder(text: str) -> tuple[str, Path]:
    label, separator, folder = text.partition("=")
    if not separator or not label.strip() or not folder:
        raise ValueError(f"--pred {text!r} must read LABEL=DIR, e.g. --pred lora=out/lora.")
    return label.strip(), Path(folder)


def _finite(value: object) -> object:
    """Strict JSON has no infinity: a perfect PSNR is written as the string "inf" (n/a stays null)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
