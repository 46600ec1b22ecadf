"""Sequence-first models, ``(T, B, ...)``, as PyTorch's own examples write them: the two-layer LSTM
word language model and an ``nn.Transformer`` encoder-decoder (Vaswani et al. 2017)."""

from __future__ import annotations

import warnings

import torch
from torch import nn

__all__ = ["LSTMLanguageModel", "Seq2SeqTransformer"]


class LSTMLanguageModel(nn.Module):
    """``tokens: (T, B) -> logits (T, B, vocab)``: ``encoder`` (embedding), ``rnn`` (LSTM),
    ``decoder`` (linear)."""

    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int = 2) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, embedding)
        self.rnn = nn.LSTM(embedding, hidden, layers)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.encoder(tokens))
        return self.decoder(output)


class Seq2SeqTransformer(nn.Module):
    """``source: (S, B), target: (T, B) -> logits (T, B, vocab)`` through a sequence-first
    ``nn.Transformer`` (``batch_first=False``) with a causal target mask and learned positions."""

    def __init__(
        self, vocab: int, hidden: int, heads: int, layers: int, feedforward: int, context: int
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.positions = nn.Parameter(torch.empty(context, 1, hidden).normal_(std=0.02))
        with warnings.catch_warnings():  # nested tensors need batch_first; the layout is the point
            warnings.filterwarnings("ignore", "enable_nested_tensor is True")
            self.transformer = nn.Transformer(
                hidden, heads, layers, layers, feedforward, dropout=0.0, batch_first=False
            )
        self.generator = nn.Linear(hidden, vocab)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(target.shape[0]).to(
            self.positions.dtype
        )
        src = self.embedding(source) + self.positions[: source.shape[0]]
        tgt = self.embedding(target) + self.positions[: target.shape[0]]
        return self.generator(self.transformer(src, tgt, tgt_mask=mask))
