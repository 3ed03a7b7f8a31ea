"""A word-level tokenizer with BERT's special tokens, saved and loaded as a JSON file.

BERT (Devlin et al., 2018, https://arxiv.org/abs/1810.04805) uses WordPiece sub-words; this
course uses whole words, which is enough for the toy English corpus and readable in figures.

The five special tokens always take the first five ids, in this order:

    [PAD] 0   fills short sequences up to the batch length (ignored by attention and losses)
    [CLS] 1   first token of every BERT input; its output feeds the sentence-level heads
    [SEP] 2   ends sentence A and sentence B; also the end-of-text token of the GPT
    [MASK] 3  replaces most of the words selected for masked language modelling
    [UNK] 4   any word not in the vocabulary

Punctuation marks are words of their own ("a red circle, small" -> a, red, circle, ",", small):
BERT, GPT and mini-CLIP's captions are split the same way.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import torch

from sslcourse.data.english import tokenize_words
from sslcourse.utils import atomic_write

__all__ = ["Tokenizer", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")


class Tokenizer:
    """Maps words to integer ids and back.

    Args:
        words: the ordinary vocabulary (no special tokens; duplicates are dropped, order kept).
        lowercase: lower-case text before looking words up.

    Attributes:
        pad_id, cls_id, sep_id, mask_id, unk_id: the special ids (0..4).
        special_ids: the five special ids as a tuple.
        itos: id -> word list; ``stoi``: word -> id dict.
    """

    pad_id, cls_id, sep_id, mask_id, unk_id = 0, 1, 2, 3, 4
    special_ids = (0, 1, 2, 3, 4)

    def __init__(self, words: Iterable[str], lowercase: bool = True) -> None:
        self.lowercase = lowercase
        self.itos: list[str] = list(SPECIAL_TOKENS)
        for w in words:
            if w not in SPECIAL_TOKENS and w not in self.itos[5:]:
                self.itos.append(w)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_texts(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None,
                   lowercase: bool = True) -> "Tokenizer":
        """Build the vocabulary from a corpus: words seen at least `min_freq` times, most frequent first.

        Args:
            texts: sentences or paragraphs.
            min_freq: rarer words become [UNK].
            max_size: keep at most this many ordinary words (plus the 5 special tokens).
        """
        counts = Counter(w for t in texts for w in tokenize_words(t, lowercase=lowercase))
        counts.pop("<unk>", None)  # WikiText's own unknown-word marker maps to [UNK]
        words = [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0])) if c >= min_freq]
        return cls(words[:max_size] if max_size is not None else words, lowercase=lowercase)

    # ------------------------------------------------------------------ use
    def __len__(self) -> int:
        return len(self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def tokenize(self, text: str) -> list[str]:
        """Text -> words (punctuation split off; "[MASK]" and the other specials kept whole)."""
        return tokenize_words(text, lowercase=self.lowercase)

    def encode(self, text: str) -> list[int]:
        """Text -> ids, unknown words -> [UNK]. No [CLS]/[SEP] are added (see `text.bert_inputs`;
        a padded batch with [CLS] first: `encode_batch`)."""
        return [self.stoi.get(w, self.unk_id) for w in self.tokenize(text)]

    def encode_batch(self, texts: Sequence[str] | str, max_len: int = 16,
                     add_cls: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of short texts (captions, prompts) -> padded token ids and their mask.

        Each text becomes ``[CLS] w1 w2 ...`` (``add_cls``), cut at ``max_len`` tokens ([CLS]
        included), then padded with [PAD] to the longest sequence of the batch. No [SEP] is added:
        mini-CLIP's text tower reads the caption at [CLS].

        Example: with words ``a red circle``, ``encode_batch(["a red circle", "a zebra"])`` gives
        ``ids = [[1, 5, 6, 7], [1, 5, 4, 0]]`` ([CLS]=1, [UNK]=4, [PAD]=0) and
        ``mask = [[T, T, T, T], [T, T, T, F]]``.

        Args:
            texts: B strings (or one string: B = 1).
            max_len: longest sequence kept; longer texts lose their last words.
            add_cls: put [CLS] first.

        Returns:
            ``ids`` int64 ``(B, T)`` and ``mask`` bool ``(B, T)`` (True = a real token, False =
            [PAD]), with ``T = min(max_len, longest text)`` (at least 1).
        """
        if isinstance(texts, str):
            texts = [texts]
        head = [self.cls_id] if add_cls else []
        seqs = [(head + self.encode(t))[:max_len] for t in texts]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (B,)
        T = max(1, int(lengths.max()) if len(seqs) else 1)
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)  # (B, T)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T): True on real tokens
        return ids, mask

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        """Ids -> space-separated words; `skip_special` drops [PAD], [CLS] and [SEP]."""
        words = []
        for i in ids:
            i = int(i)
            if skip_special and i in (self.pad_id, self.cls_id, self.sep_id):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) else "[UNK]")
        return " ".join(words)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {"kind": "sslcourse.word_tokenizer", "version": 1, "lowercase": self.lowercase, "itos": self.itos}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        if d.get("kind") != "sslcourse.word_tokenizer":
            raise ValueError("Tokenizer.from_dict: not an sslcourse tokenizer (missing kind='sslcourse.word_tokenizer')")
        itos = d["itos"]
        if tuple(itos[:5]) != SPECIAL_TOKENS:
            raise ValueError(f"Tokenizer.from_dict: the first five tokens must be {SPECIAL_TOKENS}, got {itos[:5]}")
        return cls(itos[5:], lowercase=d.get("lowercase", True))

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (atomically)."""
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Tokenizer.load: no tokenizer file at {path}")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.itos == other.itos and self.lowercase == other.lowercase

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={len(self)}, lowercase={self.lowercase})"
