"""Write deterministic random weights for the TinyNet example plugin (no download):

    python examples/plugins/pretrained_net/make_weights.py tiny_net.pth
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("path", help="where to write the state dict (.pth)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    spec = importlib.util.spec_from_file_location("tiny_net_plugin",
                                                  Path(__file__).with_name("tiny_net_plugin.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(args.seed)
    net = mod.TinyNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a trained file has
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    torch.save(net.state_dict(), args.path)
    n = sum(t.numel() for t in net.parameters())
    print(f"wrote {args.path} ({n} parameters, seed {args.seed})")


if __name__ == "__main__":
    main()
