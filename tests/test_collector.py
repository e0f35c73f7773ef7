"""The cycle collector is paused for as long as an import runs, and only that long."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from labledger.collector import collector_paused


@pytest.fixture
def collector_running() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_resumes_after_the_last_of_overlapping_pauses(collector_running):
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled(), "resumed while another import still ran"
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_failing_block_resumes_the_collector(collector_running):
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the import failed")
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused(collector_running):
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
