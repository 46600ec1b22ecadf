"""A Vision Transformer encoder in torchvision's ``VisionTransformer`` layout (Dosovitskiy et al.
2021, "An Image is Worth 16x16 Words"): a patch convolution ``conv_proj``, a ``class_token``, an
``encoder`` with ``pos_embedding``, pre-norm blocks ``ln_1, self_attention, ln_2, mlp`` and a final
``ln``, and ``heads.head``."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["EncoderBlock", "VisionTransformer"]


class EncoderBlock(nn.Module):
    """Pre-norm block on ``(B, S, E)``: ``x + attn(ln_1 x)``, then ``x + mlp(ln_2 x)``."""

    def __init__(self, heads: int, hidden: int, mlp: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(hidden, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, mlp), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp, hidden),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Position embedding ``(1, S, E)``, ``layers.encoder_layer_i``, final ``ln``."""

    def __init__(self, seq_length: int, layers: int, heads: int, hidden: int, mlp: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden).normal_(std=0.02))
        self.layers = nn.Sequential(
            OrderedDict((f"encoder_layer_{i}", EncoderBlock(heads, hidden, mlp)) for i in range(layers))
        )
        self.ln = nn.LayerNorm(hidden, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(x + self.pos_embedding))


class VisionTransformer(nn.Module):
    """``x: (B, in_channels, H, W) -> (B, num_classes)``, classifying from the class token.

    ``image_size`` must be a multiple of ``patch_size``; the sequence has
    ``(image_size / patch_size)² + 1`` tokens of width ``hidden``.
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        layers: int,
        heads: int,
        hidden: int,
        mlp: int,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(
                f"image_size must be a multiple of patch_size, got {image_size} and {patch_size}"
            )
        if hidden % heads:
            raise ValueError(f"hidden must be a multiple of heads, got {hidden} and {heads}")
        self.patch_size = patch_size
        self.hidden = hidden
        self.conv_proj = nn.Conv2d(in_channels, hidden, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden))
        tokens = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(tokens, layers, heads, hidden, mlp)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.conv_proj(x).flatten(2).transpose(1, 2)  # (B, S - 1, E)
        token = self.class_token.expand(x.shape[0], -1, -1)
        return self.heads(self.encoder(torch.cat([token, patches], dim=1))[:, 0])
