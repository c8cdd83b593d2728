"""The committed event fixtures (infra/events/) are what infra/make_events.py makes now from
the samples and the template: regenerated elsewhere, they must be byte for byte the same."""

import pathlib
import subprocess
import sys

INFRA = pathlib.Path(__file__).resolve().parents[1]
EVENTS = INFRA / "events"


def test_the_committed_fixtures_are_what_make_events_writes(tmp_path):
    subprocess.run([sys.executable, str(INFRA / "make_events.py"), str(tmp_path)], check=True)
    written = sorted(path.name for path in tmp_path.iterdir())
    committed = sorted(path.name for path in EVENTS.iterdir())
    assert written == committed, "run: .venv/bin/python infra/make_events.py"
    stale = [name for name in written
             if (tmp_path / name).read_bytes() != (EVENTS / name).read_bytes()]
    assert stale == [], f"stale fixtures {stale}: run .venv/bin/python infra/make_events.py"
