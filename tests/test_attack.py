"""The attack of issue 21 (tests/attack.py) in its quick form: hostile and fuzzed files through
`bokeh info` and `bokeh render`, stop signals and kills during renders, training and synthesis,
concurrent renders into one folder. Every problem it counts must be zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attack import PROBLEMS, TRIALS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_quick_attack_finds_no_problem(tmp_path):
    counts_path = tmp_path / "counts.json"
    result = subprocess.run([sys.executable, str(REPO / "tests" / "attack.py"), "--quick", "--json", str(counts_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=3600,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)})
    assert counts_path.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    counts = json.loads(counts_path.read_text())
    assert all(counts[key] > 0 for key in TRIALS), counts
    assert {key: counts[key] for key in PROBLEMS} == dict.fromkeys(PROBLEMS, 0), result.stdout[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
