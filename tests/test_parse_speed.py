"""Speed bounds of the untrusted-input parsers (slow suite: wall-clock bounds are unreliable on a
loaded machine; the fast suite only guards against hangs, see hang_guard.py).

The bounds are loose against today's code (milliseconds) and tight against the regressions they
were written for: unclosed XML comments and 20,000 bound prefixes in an XMP packet took 600-800 s,
a weights config of 100,000 blocks used 1.4 GB in 180 s.
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from bokehcli.errors import InputError
from bokehcli.lens import read_lens
from bokehcli.lens.xmp import MAX_XMP_BYTES, read_xmp_focus
from bokehcli.models.bokehflow import BokehFlow
from bokehcli.models.factory import load_model
from hostile import hostile_configs, jpeg_with_xmp, write_weights, xmp_bombs

pytestmark = pytest.mark.slow
PARSE_BOUND_S = 2.0
WEIGHTS_BOUND_S = 10.0


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(xmp_bombs(64)))
def test_adversarial_xmp_reads_in_bounded_time(tmp_path, name):
    packet = xmp_bombs(MAX_XMP_BYTES)[name]
    assert seconds(lambda: read_xmp_focus([packet])) < PARSE_BOUND_S
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_with_xmp(packet))
    assert seconds(lambda: read_lens(path)) < PARSE_BOUND_S


@pytest.mark.parametrize("kind", sorted(hostile_configs({})))
def test_hostile_weight_configs_are_refused_quickly(tmp_path, tiny_config, kind):
    torch.manual_seed(0)
    model = BokehFlow(tiny_config)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = write_weights(tmp_path / "w.safetensors", tensors, hostile_configs(json.loads(model.config.to_json()))[kind])

    def refuse() -> None:
        with pytest.raises(InputError):
            load_model(path)

    assert seconds(refuse) < WEIGHTS_BOUND_S
