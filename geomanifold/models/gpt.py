"""A GPT-2-style decoder in the layout of common language-model libraries (Radford et al. 2019):
token and learned position embeddings ``wte``, ``wpe`` (the latter called with ``position_ids`` of
shape ``(1, T)``, broadcast over the batch), blocks ``ln_1, attn.c_attn, attn.c_proj, ln_2,
mlp.c_fc, mlp.c_proj`` built from :class:`Conv1D`, which stores its weight transposed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GPT", "Conv1D", "GPTBlock"]


class Conv1D(nn.Module):
    """``x @ weight + bias`` with ``weight: (in_features, out_features)``: a linear map whose weight
    is stored transposed against ``nn.Linear``'s, as GPT-2 checkpoints store it."""

    def __init__(self, out_features: int, in_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(
            *x.shape[:-1], -1
        )


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention on ``(B, T, E)`` from one fused ``c_attn`` projection."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden must be a multiple of heads, got {hidden} and {heads}")
        self.heads = heads
        self.c_attn = Conv1D(3 * hidden, hidden)
        self.c_proj = Conv1D(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, hidden = x.shape
        q, k, v = self.c_attn(x).split(hidden, dim=-1)
        q, k, v = (t.reshape(batch, tokens, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(batch, tokens, hidden))


class MLP(nn.Module):
    """``c_proj(gelu(c_fc x))`` with a ``4 · hidden`` inner width."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.c_fc = Conv1D(4 * hidden, hidden)
        self.c_proj = Conv1D(hidden, 4 * hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPTBlock(nn.Module):
    """Pre-norm decoder block on ``(B, T, E)``."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden)
        self.attn = CausalSelfAttention(hidden, heads)
        self.ln_2 = nn.LayerNorm(hidden)
        self.mlp = MLP(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """``input_ids: (B, T) -> logits (B, T, vocab)`` for ``T <= context``."""

    def __init__(self, vocab: int, context: int, layers: int, hidden: int, heads: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(context, hidden)
        self.h = nn.ModuleList(GPTBlock(hidden, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        self.register_buffer("position_ids", torch.arange(context)[None], persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        tokens = input_ids.shape[-1]
        if tokens > self.position_ids.shape[-1]:
            raise ValueError(
                f"input_ids has {tokens} tokens, more than the context of "
                f"{self.position_ids.shape[-1]}"
            )
        x = self.wte(input_ids) + self.wpe(self.position_ids[:, :tokens])
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))
