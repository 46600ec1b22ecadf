"""The reference architectures: torchvision's parameter count and names, and the behaviour each
layout promises (batch independence in the sequence-first models, causality, transposed weights)."""

import pytest
import torch
from torch import nn

from geomanifold.models import (
    GPT,
    Conv1D,
    LSTMLanguageModel,
    ResNet,
    Seq2SeqTransformer,
    VisionTransformer,
    resnet18,
)


def test_resnet18_matches_torchvision_layout():
    model = resnet18()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's resnet18
    names = dict(model.named_parameters())
    assert {"conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.bias", "fc.bias"} <= set(names)
    small = resnet18(num_classes=10, in_channels=1, width=8, small_input=True).eval()
    assert small(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_vit_layout_and_shapes():
    model = VisionTransformer(16, 4, layers=2, heads=2, hidden=16, mlp=32, num_classes=5)
    names = dict(model.named_parameters())
    assert "encoder.layers.encoder_layer_1.self_attention.in_proj_weight" in names
    assert names["encoder.pos_embedding"].shape == (1, 17, 16)
    assert model(torch.randn(3, 3, 16, 16)).shape == (3, 5)


def test_conv1d_is_linear_with_transposed_weight():
    layer = Conv1D(5, 3).double()
    linear = nn.Linear(3, 5).double()
    with torch.no_grad():
        linear.weight.copy_(layer.weight.T)
        linear.bias.copy_(layer.bias)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x), linear(x))


def test_gpt_is_causal():
    torch.manual_seed(0)
    model = GPT(vocab=50, context=8, layers=2, hidden=16, heads=4).double()
    ids = torch.randint(0, 50, (2, 6))
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    torch.testing.assert_close(model(ids)[:, :-1], model(changed)[:, :-1])
    with pytest.raises(ValueError, match="more than the context of 8"):
        model(torch.randint(0, 50, (1, 9)))


@pytest.mark.parametrize("build", ["lstm", "transformer"])
def test_sequence_first_models_treat_dim1_as_batch(build):
    torch.manual_seed(0)
    if build == "lstm":
        model = LSTMLanguageModel(vocab=30, embedding=8, hidden=12).double()
        inputs = (torch.randint(0, 30, (5, 5)),)  # T == B: the layout must decide
    else:
        model = Seq2SeqTransformer(vocab=30, hidden=8, heads=2, layers=1, feedforward=16, context=8)
        model = model.double().eval()
        inputs = (torch.randint(0, 30, (4, 4)), torch.randint(0, 30, (4, 4)))
    batched = model(*inputs)
    for i in range(inputs[0].shape[1]):
        alone = model(*(x[:, i : i + 1] for x in inputs))
        torch.testing.assert_close(batched[:, i : i + 1], alone)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="layers must be four block counts"):
        ResNet((2, 2, 2))
    with pytest.raises(ValueError, match="image_size must be a multiple of patch_size"):
        VisionTransformer(10, 4, 1, 1, 4, 4)
    with pytest.raises(ValueError, match="hidden must be a multiple of heads"):
        GPT(10, 4, 1, 10, 3)
