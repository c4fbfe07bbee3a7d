"""UMT5 text encoding for the headless path, when the encoder's weights are on disk (transformers format).

Wan conditions on the encoder's last hidden states for the real tokens only (padding cut away), so an instruction
becomes (1, tokens, 4096). Most headless runs skip this and pass saved embeddings instead.
"""

from __future__ import annotations

from pathlib import Path

import torch

# Wan's text length: longer instructions are truncated.
MAX_TOKENS = 512


class UMT5TextEncoder:
    def __init__(self, folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import AutoTokenizer, UMT5EncoderModel

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"text encoder folder {folder} does not exist: pass a UMT5 folder "
                                    "(config.json, weights and tokenizer files), or use saved embeddings instead.")
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = UMT5EncoderModel.from_pretrained(folder, torch_dtype=dtype).to(self.device).eval()

    @torch.no_grad()
    def encode(self, text: str) -> torch.Tensor:
        tokens = self.tokenizer(text.strip(), max_length=MAX_TOKENS, truncation=True, add_special_tokens=True,
                                return_tensors="pt").to(self.device)
        hidden = self.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
        length = int(tokens.attention_mask.sum())
        return hidden[:, :length].float().cpu()
