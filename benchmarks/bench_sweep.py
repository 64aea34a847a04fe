"""Overhead and speed-up of the sweep executors, as ratios measured in one process.

The points of the fig1 preset with four seeds (d = 450: 90 theory + 360 exact points) are computed

* serially in this process, one thread (the reference),
* by ``run_spec`` with the local process pool (1 and 2 workers),
* by ``run_spec`` with a Dask LocalCluster (2 worker processes),

each into a fresh output directory, so every run includes starting its workers and storing every
point. The ratios are wall times divided by the serial time. Run:

    python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import os
import tempfile
import time

from lazytrain.experiments import compute_point, expand, preset, run_spec


def main():
    spec = preset("fig1").with_updates(seeds=[0, 1, 2, 3])
    points = expand(spec)
    costly = [p for p in points if p.kind != "theory"]

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        for p in points:
            compute_point(p, pin=False)
        serial = time.perf_counter() - t0
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"{len(points)} points ({len(costly)} exact); serial, 1 thread: {serial:.2f} s")
    for label, kwargs in [("local, 1 worker", {"executor": "local", "workers": 1}),
                          ("local, 2 workers", {"executor": "local", "workers": 2}),
                          ("dask LocalCluster, 2 workers", {"executor": "dask", "workers": 2})]:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            run_spec(spec, out, progress=False, **kwargs)
            wall = time.perf_counter() - t0
        print(f"{label:30s} {wall:6.2f} s   ratio to serial {wall / serial:.2f}")


if __name__ == "__main__":
    main()
