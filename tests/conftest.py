import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(ROOT))
OFFICIAL_KEYS = ROOT / "tests" / "fixtures" / "official_keys"


def read_official_keys(name):
    """{key: shape tuple} from tests/fixtures/official_keys/NAME.txt."""
    table = {}
    for line in (OFFICIAL_KEYS / f"{name}.txt").read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            table[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return table


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
