"""Markdown table of several ``geomanifold connect`` runs (one folder per seed): mean ± standard
deviation over the folders of each path's test-loss barrier, worst and endpoint test error,
function-space energy, and the test accuracies of the endpoints' ensemble and of the 5-member
ensemble along the path; then the geodesic's energy as a fraction of the straight line's, per
pair (B as trained, weight-matched, activation-matched).

    python benchmarks/summarise_connect.py results/connect_s0 results/connect_s1 results/connect_s2

The ResNet-18-layout table of docs/results_paths.md comes from three runs of

    geomanifold connect --data digits --arch resnet18 --width 4 --epochs 6 \\
        --methods straight,geodesic --align all --steps 60 --interior 6 --points 11 --seed S --threads 1
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

COLUMNS = (
    ("test_barrier_max_mean", "test-loss barrier", 3),
    ("test_worst_error", "worst test error", 3),
    ("test_endpoint_error", "endpoint test error", 3),
    ("function_energy", "function energy (2·KL)", 3),
    ("ends_ensemble_accuracy", "ends' ensemble acc.", 3),
    ("path_ensemble_accuracy", "5-member path ensemble acc.", 3),
)


def mean_std(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    runs = []
    for folder in args.folders:
        with open(folder / "connect_summary.csv") as handle:
            runs.append(
                {
                    row["path"]: {k: float(v) for k, v in row.items() if k != "path"}
                    for row in csv.DictReader(handle)
                }
            )
    print(f"{len(runs)} runs, mean ± std\n")
    print("| path | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for path in runs[0]:
        cells = [mean_std([run[path][key] for run in runs], digits) for key, _, digits in COLUMNS]
        print(f"| {path} | " + " | ".join(cells) + " |")
    print("\ngeodesic energy / straight-line energy (function space, test inputs)\n")
    for suffix in ("", " (aligned)", " (activation-aligned)"):
        if f"geodesic{suffix}" in runs[0]:
            ratios = [
                run[f"geodesic{suffix}"]["function_energy"] / run[f"straight{suffix}"]["function_energy"]
                for run in runs
            ]
            print(f"- straight{suffix or ' (as trained)'}: " + ", ".join(f"{r:.1%}" for r in ratios))


if __name__ == "__main__":
    main()
