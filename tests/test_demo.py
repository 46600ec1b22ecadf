"""``geomanifold demo`` runs on one torch thread unless ``--threads`` says otherwise, restores the
caller's thread count, and reports wall and CPU seconds per step in ``timing.json``."""

from __future__ import annotations

import json

import torch

from geomanifold.cli import main
from geomanifold.commands.demo import SMOKE_ARGS


def test_demo_restores_threads_and_reports_cpu_seconds(tmp_path, monkeypatch):
    from geomanifold.experiments import geometry_tour

    seen = []
    tour = geometry_tour.run

    def recording_tour(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return tour(*args, **kwargs)

    monkeypatch.setattr(geometry_tour, "run", recording_tour)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["demo", *SMOKE_ARGS, "--out", str(tmp_path), "--no-progress"]) == 0
        assert torch.get_num_threads() == 2 and seen == [1]
    finally:
        torch.set_num_threads(before)
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert set(timing["steps"]) == set(timing["cpu_steps"]) == {"geometry"}
    assert timing["cpu_seconds"] > 0 and timing["seconds"] > 0
