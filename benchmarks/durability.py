"""What durability="full" costs: one-by-one enqueue and in-process drain, normal vs full.

    python benchmarks/durability.py
"""

from __future__ import annotations

import os
import tempfile
import time

import litejobs


def measure(durability: str, workdir: str, n: int = 3000) -> tuple[float, float]:
    app = litejobs.App(os.path.join(workdir, f"{durability}.sqlite"), durability=durability)

    @app.task(name="bench.noop")
    def noop(i):
        return i

    noop.delay(0)
    start = time.perf_counter()
    for i in range(n):
        noop.delay(i)
    enqueue = n / (time.perf_counter() - start)
    start = time.perf_counter()
    ran = app.run_until_idle()
    drain = ran / (time.perf_counter() - start)
    app.close()
    return enqueue, drain


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="litejobs-durability-") as workdir:
        normal = measure("normal", workdir)
        full = measure("full", workdir)
    print(f"{'':22}{'enqueue/s':>12}{'drain/s (1 core)':>18}")
    print(f"{'durability=normal':22}{normal[0]:>12,.0f}{normal[1]:>18,.0f}")
    print(f"{'durability=full':22}{full[0]:>12,.0f}{full[1]:>18,.0f}")
    print(f"{'full / normal':22}{full[0] / normal[0]:>12.2f}{full[1] / normal[1]:>18.2f}")


if __name__ == "__main__":
    main()
