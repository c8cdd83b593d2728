"""The fast tests of the infrastructure: the template, the layout read from it, the fixtures
and the SAM patch's preflight. Run by `make test` with the project's .venv (no Docker)."""

import pathlib
import sys

INFRA = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(INFRA), str(INFRA / "sam")]
