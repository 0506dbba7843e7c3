"""Run by tests/train/test_multinode.py in its own process: a two-node Ray cluster on this machine
(ray.cluster_utils.Cluster), training spread over both nodes, once uninterrupted and once with the
second node removed mid-run. Prints one JSON line with both runs' final metrics and what happened."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


def main(data: str, storage: str) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.run import run_training

    os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.2"
    # One CPU per node: the two workers cannot share a node, so training must span both.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    second = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    os.environ["RAY_ADDRESS"] = cluster.address
    ray.init(address=cluster.address)
    out = {"nodes": len([n for n in ray.nodes() if n["Alive"]])}

    def cfg(name: str) -> TrainConfig:
        return TrainConfig(data=data, storage=storage, name=name, workers=2, accumulation=1, epochs=3, seed=0,
                           holdout_chroms="4", method="exact", lr=1e-2, checkpoint_every_steps=1, max_failures=2,
                           placement_strategy="SPREAD", sigma="learn", jackknife="fixed").validate()   # nodes, not SEs

    m1 = run_training(cfg("uninterrupted"), log=lambda s: None)
    out["uninterrupted"] = {t: m["heldout_nll"] for t, m in m1["traits"].items()}
    out["nodes_used"] = max(h["nodes"] for h in m1["history"])

    # Training runs in a thread; the main thread removes the second node once the run has checkpointed
    # and adds a replacement (what an autoscaler does). Ray's node management needs the main thread.
    removed, result = {}, {}
    th = threading.Thread(target=lambda: result.update(m=run_training(cfg("interrupted"), log=lambda s: None)),
                          daemon=True)
    th.start()
    run = Path(storage) / "interrupted"
    while th.is_alive() and not list(run.glob("checkpoint_*")):
        time.sleep(0.2)
    time.sleep(1.0)
    if th.is_alive():
        removed["at"] = sorted(p.name for p in run.glob("checkpoint_*"))
        cluster.remove_node(second)
        removed["done"] = True
        cluster.add_node(num_cpus=1)
        removed["replaced"] = True
    th.join(timeout=600)
    m2 = result["m"]
    out["interrupted"] = {t: m["heldout_nll"] for t, m in m2["traits"].items()}
    out["node_removed"] = bool(removed.get("done"))
    out["replaced"] = bool(removed.get("replaced"))
    out["alive_nodes_after"] = len([n for n in ray.nodes() if n["Alive"]])
    out["nodes_used_after"] = max(h["nodes"] for h in m2["history"])
    print("RESULT " + json.dumps(out), flush=True)
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
