"""The README's walk-through works literally against a running `enlace up`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import SQLITE_ONLY, RunningStack

# On SQLite only: the README's walk-through, on the embedded default a newcomer runs.
pytestmark = SQLITE_ONLY

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_example_body_is_the_demo_referral():
    assert json.loads((ROOT / "docs/examples/referral.json").read_text()) == SAMPLE_REFERRAL


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_walk_through(stack: RunningStack, tmp_path: Path):
    # The newcomer's project folder: the virtualenv, the docs, the default data directory.
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    (tmp_path / "enlace-data").symlink_to(stack.data_dir)
    script = "set -euo pipefail\n" + readme_block("Walk-through with curl")
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output = result.stdout
    referral_id = json.loads(output.split("\n")[0].split("}")[0] + "}")["id"]
    assert f'"id":"{referral_id}","direction":"outbound","status":"delivered"' in output
    assert f'"id":"{referral_id}","direction":"inbound"' in output
    for event in ("sent", "received", "receipt"):
        assert f'"event_type":"{event}"' in output
    assert '"code":"policy_denied"' in output
