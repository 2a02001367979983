"""The short chaos run CI makes: three nodes under an idempotent acks=all producer, a
committing group consumer and an exactly-once transactional processor for 3 minutes while the nemesis kills, pauses, restarts, isolates
and slows brokers (the controller and partition leaders on purpose); then the checker. Any lost
acknowledged write, any offset holding the wrong or two different values, any duplicate, any
committed offset going backwards and any broker crash fails it. `bench/chaos.py` runs the long
form (see bench/RELIABILITY.md)."""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import chaos  # noqa: E402


@pytest.mark.timeout(600)
def test_three_minutes_of_faults_lose_no_acknowledged_write(tmp_path):
    result = chaos.run(seconds=180, fault_every=7, out=tmp_path / "chaos", seed=11)
    artifacts = REPO / "Tests" / "integration" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    for name in ("chaos.json", "timeline.png"):
        shutil.copy(tmp_path / "chaos" / name, artifacts / f"ci-{name}")
    print("\n" + chaos.summary(result))
    assert result["faults"] >= 15
    assert result["crashes"] == 0, result["crash_log"]
    assert result["acknowledged"] > 1000
    assert result["lost"] == 0, result["lost_examples"]
    assert result["wrong_offset"] == 0, result["wrong_offset_examples"]
    assert result["divergent_offsets"] == 0
    assert result["duplicates"] == 0, result["duplicate_examples"]
    assert result["reordered"] == 0
    assert result["commits_backwards"] == 0 and result["commits_lost"] == 0, result["commits_lost_detail"]
    # The exactly-once processor: every stored input once in the committed output, nothing aborted seen.
    assert result["eos_inputs"] > 1000
    assert result["eos_missing"] == 0, result["eos_missing_examples"]
    assert result["eos_twice"] == 0, result["eos_twice_examples"]
    assert result["eos_extra"] == 0, result["eos_extra_examples"]
