"""Process-group facts and collectives for training under ``torchrun``
(DistributedDataParallel); a single process without ``torchrun`` is a world
of one and every collective is a no-op."""

from __future__ import annotations

import os
from typing import Any

import torch

from salbench.nn.weights import parse_device

__all__ = ["Dist"]


class Dist:
    """Rank, world size and device of this process; ``world == 1`` without
    torchrun. With several processes it joins (or reuses) the default process
    group: NCCL on CUDA, one device per local rank; gloo on the CPU."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = parse_device(device)
        self.initialised_here = False
        if self.world > 1:
            import torch.distributed as dist
            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
                self.initialised_here = True
            self.rank, self.world = dist.get_rank(), dist.get_world_size()

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (the process that saves and logs)."""
        return self.rank == 0

    def all_mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of ``t`` over all processes (``t`` itself in a world of one)."""
        if self.world > 1:
            import torch.distributed as dist
            t = t.clone()
            dist.all_reduce(t)
            t /= self.world
        return t

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process (any picklable object)."""
        if self.world == 1:
            return obj
        import torch.distributed as dist
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def close(self) -> None:
        """Destroy the process group if this object created it."""
        if self.initialised_here:
            import torch.distributed as dist
            dist.destroy_process_group()
