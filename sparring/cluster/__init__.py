"""Beyond one process: rollout workers and sandbox actors on a Ray cluster (`cluster:` config).

A layer of its own because it is about where the data flow runs, not what it computes: the
driver (`driver.ClusterRollout`) stands in for the in-process rollout, each worker
(`worker.RolloutWorker`) runs the same arenas and engine a single process would, and
`sandbox_pool.RaySandbox` spreads code execution over actors. Ray is imported only when a run
has a `cluster:` section. See docs/cluster.md.
"""

from sparring.cluster.driver import ClusterRollout, WorkerDied, connect

__all__ = ["ClusterRollout", "WorkerDied", "connect"]
