"""Reference architectures in the layouts people use, written here because torchvision's wheels
do not load beside the CPU build of torch this project pins.

Parameter names follow the originals (torchvision's ``resnet18`` and ``vit_b_16``, the GPT-2
block of common language-model libraries, PyTorch's word-language-model example), so a state dict
maps one to one and code written against those layouts works here unchanged. The module depends on
torch alone.
"""

from .gpt import GPT, Conv1D, GPTBlock
from .resnet import BasicBlock, ResNet, resnet18
from .sequence import LSTMLanguageModel, Seq2SeqTransformer
from .vit import EncoderBlock, VisionTransformer

__all__ = [
    "GPT",
    "BasicBlock",
    "Conv1D",
    "EncoderBlock",
    "GPTBlock",
    "LSTMLanguageModel",
    "ResNet",
    "Seq2SeqTransformer",
    "VisionTransformer",
    "resnet18",
]
