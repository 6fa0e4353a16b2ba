"""Tiny learned methods for the trainer and DDP tests (loaded with --plugin):
a conv-BN backbone and two logit outputs at input size."""
from typing import Any, ClassVar
import torch, torch.nn as nn, torch.nn.functional as F
from salbench.plugins.registry import Method, register_method

class TinyNet(nn.Module):
    def __init__(self, width=6):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.head1 = nn.Conv2d(width, 1, 1)
        self.head2 = nn.Conv2d(width + 1, 1, 3, padding=1)

    def forward(self, x):
        f = self.backbone(x)
        a = self.head1(f)
        b = self.head2(torch.cat([f, a], 1))
        return [F.interpolate(o, size=x.shape[-2:], mode="bilinear", align_corners=False)
                for o in (a, b)]

    def loss(self, outputs, target):
        return sum(F.binary_cross_entropy_with_logits(o, target) for o in outputs)

    def final(self, outputs):
        return torch.sigmoid(outputs[-1])

@register_method
class TinyTrainable(Method):
    name = "tiny-train-test"
    kind = "learned"
    default_options: ClassVar[dict[str, Any]] = {"width": 6}
    train_defaults: ClassVar[dict[str, Any]] = {"crop": 48, "batch_size": 4}

    def build_model(self):
        return TinyNet(int(self.options["width"]))


@register_method
class TinyDDP(Method):
    name = "tiny-ddp-test"
    kind = "learned"
    default_options: ClassVar[dict[str, Any]] = {"width": 6}

    def build_model(self):
        return TinyNet(int(self.options["width"]))
