"""The toy text path: a frozen word-level encoder that turns a toy instruction into Wan-style text embeddings.

Wan conditions on UMT5's (tokens, 4096) hidden states; the toy models keep that interface (text_dim 4096) so every
node and loader path is the real one, but an 11 GB encoder is absurd for a 51-word world. Instead each word of the
closed vocabulary has a fixed random 4096-d vector, and each position a fixed random vector added to it, so word order
still tells "Replace the red circle with a blue square" from its reverse. Like Wan's own pipeline, which pads UMT5's
output with zeros to a fixed length, every text becomes MAX_WORDS tokens: the words, then zero vectors; a fixed
length also lets training batch captions of different lengths without a padding scheme inference would not share.
The table and the vocabulary travel in ONE safetensors file (`reco_toy_text_encoder.safetensors`), which an artist
drops into ``models/text_encoders``.

A word outside the vocabulary is an error that lists the unknown words and the known ones: the toy DiT has never
seen anything else, and silently dropping a word would change the edit without telling anyone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..text_embeddings import UMT5_DIM
from ..weights.checkpoint import save_safetensors
from .world import words as split_words

TEXT_ENCODER_FILE = "reco_toy_text_encoder.safetensors"
FORMAT_TAG = "reco-toy-text-encoder/1"
WORDS_KEY = "word_vectors"
POSITIONS_KEY = "position_vectors"
MAX_WORDS = 32
SEED = 20251128
# Entry scales: unit-variance word vectors dominate, positions only disambiguate order.
WORD_SCALE = 1.0
POSITION_SCALE = 0.3


class ToyTextEncoder:
    """Maps a text to (1, MAX_WORDS, 4096) float32 embeddings: word plus position vectors, then zero padding."""

    def __init__(self, vocabulary: tuple[str, ...], word_vectors: torch.Tensor, position_vectors: torch.Tensor):
        if word_vectors.shape != (len(vocabulary), UMT5_DIM):
            raise ValueError(f"word_vectors must be ({len(vocabulary)}, {UMT5_DIM}), got {tuple(word_vectors.shape)}.")
        if position_vectors.ndim != 2 or position_vectors.shape[1] != UMT5_DIM:
            raise ValueError(f"position_vectors must be (positions, {UMT5_DIM}), got {tuple(position_vectors.shape)}.")
        self.vocabulary = tuple(vocabulary)
        self.index = {word: i for i, word in enumerate(self.vocabulary)}
        self.word_vectors = word_vectors.float()
        self.position_vectors = position_vectors.float()

    @classmethod
    def create(cls, vocabulary: tuple[str, ...], seed: int = SEED) -> "ToyTextEncoder":
        """A new encoder for ``vocabulary``: vectors drawn from a seeded generator, so it is reproducible exactly."""
        if len(set(vocabulary)) != len(vocabulary) or not vocabulary:
            raise ValueError("vocabulary must be a non-empty tuple of distinct words.")
        generator = torch.Generator().manual_seed(seed)
        words = WORD_SCALE * torch.randn(len(vocabulary), UMT5_DIM, generator=generator)
        positions = POSITION_SCALE * torch.randn(MAX_WORDS, UMT5_DIM, generator=generator)
        # Rounded to the float16 the file stores, so a fresh encoder and a loaded one give identical embeddings.
        return cls(tuple(vocabulary), words.half().float(), positions.half().float())

    def unknown_words(self, text: str) -> list[str]:
        return sorted({word for word in split_words(text) if word not in self.index})

    def encode(self, text: str) -> torch.Tensor:
        """(1, positions, 4096); a clear ValueError for an empty text, unknown words or too many words."""
        unknown = self.unknown_words(text)
        if unknown:
            raise ValueError(
                f"the toy text encoder does not know the words {unknown}; it knows only the toy world's "
                f"{len(self.vocabulary)} words: {', '.join(self.vocabulary)}."
            )
        words = split_words(text)
        limit = self.position_vectors.shape[0]
        if not words:
            raise ValueError("the text is empty: type an instruction such as 'Remove the red circle.'")
        if len(words) > limit:
            raise ValueError(f"the text has {len(words)} words; the toy text encoder takes at most {limit}.")
        ids = torch.tensor([self.index[word] for word in words], dtype=torch.long)
        embeds = torch.zeros(1, limit, UMT5_DIM)
        embeds[0, :len(words)] = self.word_vectors[ids] + self.position_vectors[:len(words)]
        return embeds

    def unconditional(self) -> torch.Tensor:
        """All padding (zeros): the empty prompt, used as the negative for CFG and for the base's dropped captions."""
        return torch.zeros(1, self.position_vectors.shape[0], UMT5_DIM)

    def save(self, path: str | Path) -> Path:
        metadata = {"format": FORMAT_TAG, "vocabulary": json.dumps(list(self.vocabulary))}
        save_safetensors({WORDS_KEY: self.word_vectors.half(), POSITIONS_KEY: self.position_vectors.half()},
                         path, metadata)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "ToyTextEncoder":
        """Read a file written by `save`; any other file gets an error saying what it must hold."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"toy text encoder file {path} does not exist (expected {TEXT_ENCODER_FILE}).")
        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                metadata = handle.metadata() or {}
                if metadata.get("format") != FORMAT_TAG or WORDS_KEY not in handle.keys():
                    raise ValueError(
                        f"{path.name} is not a ReCo-Toy text encoder (no '{FORMAT_TAG}' format tag): pick "
                        f"{TEXT_ENCODER_FILE}."
                    )
                words, positions = handle.get_tensor(WORDS_KEY), handle.get_tensor(POSITIONS_KEY)
        except SafetensorError as error:
            raise ValueError(f"{path.name} is not a readable safetensors file ({error}).") from error
        return cls(tuple(json.loads(metadata["vocabulary"])), words, positions)
