"""MAC counting with FlopCounterMode: convolutions, transposed convolutions,
linear layers, matrix products and attention by formula, on CPU and on the meta
device, and R3Net against the former forward-hook (convolution) count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from salbench.nn.flops import count_macs

torch.set_num_threads(1)  # 2 shared cores


def test_conv_deconv_linear_counts_match_the_formulas():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),                      # 16·16·8·3·9
        nn.BatchNorm2d(8), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1),   # in 16·16·8, ×4·16 → 32×32 out
        nn.Conv2d(4, 4, 3, padding=1, groups=2),            # 32·32·4·2·9
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10),
    )
    r = count_macs(net, (2, 3, 16, 16))
    conv = 16 * 16 * 8 * 3 * 9
    deconv = 16 * 16 * 8 * 4 * 16
    grouped = 32 * 32 * 4 * 2 * 9
    assert r["conv"] == conv + deconv + grouped
    assert r["matmul"] == 4 * 10
    assert r["total"] == conv + deconv + grouped + 40
    assert r["by_module"]["3"] == deconv and r["by_module"]["7"] == 40
    assert r["by_module"][""] == r["total"]
    assert r["by_op"]["aten.convolution"] == conv + deconv + grouped
    assert r["other"] == 0 and r["attention"] == 0  # BN / ReLU / pooling have no formula


def test_counts_on_the_meta_device_equal_real_ones():
    net = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ConvTranspose2d(6, 2, 2, stride=2))
    real = count_macs(net, (1, 3, 20, 20))["total"]
    meta = count_macs(net.to("meta"), (1, 3, 20, 20))["total"]
    assert real == meta == 16 * 16 * 6 * 3 * 25 + 16 * 16 * 6 * 2 * 4


class _Attn(nn.Module):
    """Linear projections, a bare matmul and fused attention (by hand below)."""

    def __init__(self, d: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mix = nn.Parameter(torch.randn(d, 8))

    def forward(self, x):  # x: (B, 3, H, W) -> tokens (B, H·W, 16) by a 1x1 conv-free reshape
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)                      # (B, N, 3)
        t = torch.cat([t] * 6, -1)[..., :16]                  # (B, N, 16), no MACs
        q, k, v = self.qkv(t).chunk(3, -1)                    # N·16·48
        sh = lambda z: z.view(b, -1, self.heads, 16 // self.heads).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(sh(q), sh(k), sh(v))  # 2 · heads · N·N·8
        a = a.transpose(1, 2).reshape(b, -1, 16)
        return self.proj(a) @ self.mix                        # N·16·16 + N·16·8


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_linear_matmul_attention_exact(device):
    torch.manual_seed(0)
    net = _Attn().to(device)
    h = w = 5
    n = h * w
    r = count_macs(net, (2, 3, h, w))
    qkv = n * 16 * 48
    attn = 2 * 2 * n * n * 8          # Q·Kᵀ and A·V, 2 heads of width 8
    proj = n * 16 * 16
    mix = n * 16 * 8
    assert r["total"] == qkv + attn + proj + mix
    assert r["matmul"] + r["attention"] == r["total"]
    assert r["total"] > 0 and r["conv"] == 0


def _old_hook_count(model: nn.Module, shape) -> int:
    """The former salbench count: forward hooks on Conv2d / ConvTranspose2d / Linear."""
    total = [0]

    def conv(mod, inp, out):
        total[0] += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * \
            mod.kernel_size[0] * mod.kernel_size[1]

    def deconv(mod, inp, out):
        x = inp[0]
        total[0] += x.numel() // x.shape[0] * (mod.out_channels // mod.groups) * \
            mod.kernel_size[0] * mod.kernel_size[1]

    def lin(mod, inp, out):
        total[0] += out.numel() // out.shape[0] // out.shape[-1] * mod.in_features * mod.out_features

    hooks = []
    for m in model.modules():
        fn = {nn.Conv2d: conv, nn.ConvTranspose2d: deconv, nn.Linear: lin}.get(type(m))
        if fn:
            hooks.append(m.register_forward_hook(fn))
    p = next(model.parameters())
    with torch.inference_mode():
        model.eval()(torch.zeros(*shape, device=p.device))
    for hk in hooks:
        hk.remove()
    return total[0]


def test_r3net_light_equals_the_hook_count():
    from salbench.plugins.registry import create
    torch.manual_seed(0)
    net = create("r3net", backbone="resnet18").build_model()
    shape = (1, 3, 96, 128)
    new = count_macs(net, shape)["total"]
    old = _old_hook_count(net, shape)
    assert abs(new - old) <= 1e-3 * old
    assert new == old  # convolutions only: the same formula


def test_r3net_default_on_meta_equals_the_hook_count():
    """The default ResNeXt-101 R3Net, built on the meta device (as listing does)."""
    from salbench.plugins.registry import create
    with torch.device("meta"):
        m = create("r3net")
        net = m.build_model()
        new = count_macs(net, (1, 3, 300, 300))["total"]
        old = _old_hook_count(net, (1, 3, 300, 300))
        g = m.gmacs((300, 300))
    assert abs(new - old) <= 1e-3 * old
    assert g == pytest.approx(47.36, abs=0.05)  # the figure measured with the hooks (2026-11-26)
