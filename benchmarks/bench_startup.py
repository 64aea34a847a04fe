"""Start-up of the command line, and how fast an impossible spec is refused.

Ratios against ``python -c "import numpy, click"`` measured in the same run
(the target: ``lazytrain --help`` within 3x; it imports neither torch, Dask
nor pydantic), and the wall time of ``lazytrain run`` refusing specs whose
points cannot fit in memory (target: well under 5 s, nothing written).

    PYTHONPATH=src python benchmarks/bench_startup.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}
LAZYTRAIN = [sys.executable, "-m", "lazytrain.cli"]


def wall(cmd, repeat=7, check=True) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if check and out.returncode != 0:
            raise RuntimeError(out.stderr)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "store"
        spec = tmp / "theory.toml"
        spec.write_text('kinds = ["theory"]\nn_neurons = [3, 6, 12]\n[task]\ntype = "paper"\nd = 12\n')
        subprocess.run([*LAZYTRAIN, "run", str(spec), "--out", str(store), "--no-progress"], env=ENV,
                       check=True, capture_output=True)
        base = wall([sys.executable, "-c", "import numpy, click"])
        rows = [("lazytrain --help", wall([*LAZYTRAIN, "--help"])),
                ("lazytrain run --help", wall([*LAZYTRAIN, "run", "--help"])),
                ("lazytrain results DIR", wall([*LAZYTRAIN, "results", str(store)]))]
        print(f"python -c 'import numpy, click': {base:.3f} s (median of 7)")
        for name, t in rows:
            print(f"{name:24s} {t:.3f} s   ratio {t / base:.2f}")
        print("\nrefusals (default limit: the memory available now; nothing is written):")
        for name, body in [
            ("n_neurons = [10000000], sgd", 'kinds = ["sgd"]\nn_neurons = [10000000]\n'
                                            '[task]\ntype = "paper"\nd = 30\n'),
            ("d = 25000", 'n_neurons = [10]\n[task]\ntype = "paper"\nd = 25000\n'),
            ("n_neurons = {1..10^7}", 'n_neurons = {start = 1, stop = 10000000}\n'
                                      '[task]\ntype = "paper"\nd = 30\n'),
        ]:
            path = tmp / "big.toml"
            path.write_text(body)
            out = tmp / "never"
            t = wall([*LAZYTRAIN, "run", str(path), "--out", str(out)], repeat=3, check=False)
            msg = subprocess.run([*LAZYTRAIN, "run", str(path), "--out", str(out)], env=ENV,
                                 capture_output=True, text=True).stderr.strip().splitlines()[-1]
            print(f"{name:28s} refused in {t:.2f} s (written: {out.exists()}): {msg[:110]}")


if __name__ == "__main__":
    main()
