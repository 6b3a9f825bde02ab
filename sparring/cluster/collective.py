"""Weight broadcast through a torch.distributed group (`cluster.weight_sync: collective`).

The pattern verl and OpenRLHF use: the driver (rank 0) and every rollout worker (ranks 1..n)
join one process group, and after each update the driver broadcasts the trainable parameters
straight into the workers' own tensors: no pickling, no object store. Backend NCCL when the driver
and the workers hold GPUs (`worker_gpus` > 0 and CUDA in the driver), gloo otherwise (CPU, and
what the tests here exercise). Parameters are packed into one flat buffer per dtype, so a
broadcast is a handful of calls however many tensors the model has.

The group is formed again whenever its membership changes (a worker replaced): a group with a
dead member cannot be repaired, only left.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import torch
import torch.distributed as dist

TIMEOUT = timedelta(minutes=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def join(address: str, port: int, rank: int, world: int, backend: str) -> None:
    """Leave any group this process is in and join the one at address:port as `rank`."""
    leave()
    dist.init_process_group(backend, init_method=f"tcp://{address}:{port}", rank=rank, world_size=world,
                            timeout=TIMEOUT)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _buckets(params: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """`params` grouped by (dtype, device), in order of first appearance."""
    groups: dict[tuple, list[torch.Tensor]] = {}
    for p in params:
        groups.setdefault((p.dtype, p.device), []).append(p)
    return list(groups.values())


@torch.no_grad()
def send(params: list[torch.Tensor], device: str) -> None:
    """Rank 0: broadcast `params` (flattened per dtype, on `device`: cuda for NCCL, cpu for gloo)."""
    for bucket in _buckets(params):
        flat = torch.cat([p.detach().reshape(-1).to(device) for p in bucket])
        dist.broadcast(flat, src=0)


@torch.no_grad()
def receive(params: list[torch.Tensor], device: str) -> None:
    """Ranks 1..n: receive the broadcast of `send` into `params` (same names, shapes, dtypes)."""
    for bucket in _buckets(params):
        flat = torch.empty(sum(p.numel() for p in bucket), dtype=bucket[0].dtype, device=device)
        dist.broadcast(flat, src=0)
        start = 0
        for p in bucket:
            p.copy_(flat[start:start + p.numel()].view_as(p))
            start += p.numel()
