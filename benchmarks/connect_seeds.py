"""The connect tables of docs/results_paths.md: two MLPs (width 128) on MNIST-5k and on MNIST-1D,
joined by the straight line, the mode-connecting Bézier curve and the KL geodesic, with and without
permutation alignment, over several seeds (endpoint seeds ``2·seed`` and ``2·seed + 1``), with the
``geomanifold connect`` defaults. Writes one folder per data set and seed (as ``connect`` does) and
prints markdown tables of mean ± standard deviation over seeds.

    python benchmarks/connect_seeds.py [--seeds 3] [--threads 2] [--out results/connect_seeds]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

from geomanifold.experiments.connect import ConnectOptions, connect_networks, train_endpoints, write_results
from geomanifold.experiments.datasets import load_data
from geomanifold.io import write_csv

DATA = ("mnist5k", "mnist1d")
COLUMNS = (
    ("test_barrier_max_mean", "test-loss barrier (max − mean ends)"),
    ("test_barrier_chord", "barrier above chord"),
    ("test_worst_error", "worst test error"),
    ("test_endpoint_error", "endpoint test error"),
    ("function_length", "function length (√2KL)"),
    ("euclidean_length", "Euclidean length"),
)


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/connect_seeds"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = ConnectOptions()
    rows = []
    for data in DATA:
        split = load_data(data)
        for seed in range(args.seeds):
            started = time.perf_counter()
            model_a, model_b = train_endpoints(split, "mlp", 128, seed, progress=False, epochs=10)
            trained = time.perf_counter()
            results = connect_networks(model_a, model_b, split, options, seed, progress=False)
            settings = {"data": data, "arch": "mlp", "width": 128, "seed": seed, **asdict(options)}
            for result in results.values():
                result.pop("seconds")
            for row in write_results(args.out / f"{data}-seed{seed}", results, settings):
                rows.append({"data": data, "seed": seed, **row})
            print(
                f"{data} seed {seed}: training {trained - started:.0f} s, "
                f"paths {time.perf_counter() - trained:.0f} s",
                flush=True,
            )
    write_csv(args.out / "connect_seeds.csv", rows)
    for data in DATA:
        print(f"\n{data} ({args.seeds} seeds, mean ± std)\n")
        print("| path | " + " | ".join(label for _, label in COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for path in dict.fromkeys(row["path"] for row in rows):
            mine = [row for row in rows if row["data"] == data and row["path"] == path]
            print(
                f"| {path} | " + " | ".join(mean_std([row[key] for row in mine]) for key, _ in COLUMNS) + " |"
            )


if __name__ == "__main__":
    main()
