"""Fixtures shared by several test modules."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run the test on one torch thread, then restore. The models in these tests are small: one
    thread is fastest, and 2 threads on 2 busy cores oversubscribe (measured 0.7 s vs 17 s per
    seed under a load of about 4)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
