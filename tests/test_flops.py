"""MAC counting: convolutions, transposed convolutions and linear layers by formula."""

from __future__ import annotations

from torch import nn

from salbench.nn.flops import count_macs


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
    assert r["linear"] == 4 * 10
    assert r["total"] == conv + deconv + grouped + 40
    assert r["by_module"]["3"] == deconv
    assert r["other"] > 0  # BN / ReLU elements, reported apart


def test_counts_on_the_meta_device_equal_real_ones():
    net = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ConvTranspose2d(6, 2, 2, stride=2))
    real = count_macs(net, (1, 3, 20, 20))["total"]
    meta = count_macs(net.to("meta"), (1, 3, 20, 20))["total"]
    assert real == meta == 16 * 16 * 6 * 3 * 25 + 16 * 16 * 6 * 2 * 4
