"""A search worker for the reliability tests, run as its own process: ``python search_worker.py JSON``.

JSON holds ``SearchSettings`` fields (``score`` as a ``ScoreSettings`` dict) plus two test-only keys:

- ``ready_dir`` and ``ready_count``: write ``<ready_dir>/<pid>`` once imported and wait until
  ``ready_count`` workers have done so, so that the workers really run at the same time;
- the ``block`` score (registered here) computes NASWOT but, when the environment variable
  ``MB_BLOCK_FILE`` names a file that does not exist yet, its ``MB_BLOCK_AFTER``-th call in this
  process creates that file and then sleeps until the process is killed;
- the ``pause`` score computes NASWOT but, when ``MB_PAUSE_FILE`` names a file that does not exist
  yet, its ``MB_PAUSE_AFTER``-th call creates that file and waits until it is deleted (the test
  stops and continues the process meanwhile).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from search.scores import SCORES, ScoreSettings, naswot

CALLS = {"block": 0}


def block(model: Any, settings: ScoreSettings, resolution: int, report: Any = None, **kw: Any) -> float:
    CALLS["block"] += 1
    marker = os.environ.get("MB_BLOCK_FILE")
    if marker and not Path(marker).exists() and CALLS["block"] > int(os.environ.get("MB_BLOCK_AFTER", "0")):
        Path(marker).write_text(str(os.getpid()))
        while True:  # a long trial: the test kills this process here
            time.sleep(1)
    return naswot(model, settings, resolution, report, **kw)


def pause(model: Any, settings: ScoreSettings, resolution: int, report: Any = None, **kw: Any) -> float:
    CALLS["pause"] = CALLS.get("pause", 0) + 1
    marker = os.environ.get("MB_PAUSE_FILE")
    if marker and not Path(marker).exists() and CALLS["pause"] > int(os.environ.get("MB_PAUSE_AFTER", "0")):
        Path(marker).write_text(str(os.getpid()))
        while Path(marker).exists():
            time.sleep(0.1)
        os.environ.pop("MB_PAUSE_FILE")
    return naswot(model, settings, resolution, report, **kw)


if "block" not in SCORES.names():
    SCORES.register("block")(block)
if "pause" not in SCORES.names():
    SCORES.register("pause")(pause)


def main(argv: list[str]) -> int:
    from search.driver import SearchSettings, run_search

    data = json.loads(argv[1])
    ready_dir, ready_count = data.pop("ready_dir", None), data.pop("ready_count", 0)
    data["score"] = ScoreSettings(**data["score"])
    settings = SearchSettings(**data)
    if ready_dir:
        Path(ready_dir, str(os.getpid())).touch()
        while len(list(Path(ready_dir).iterdir())) < ready_count:
            time.sleep(0.05)
    study = run_search(settings)
    print(json.dumps({"trials": len(study.trials)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
