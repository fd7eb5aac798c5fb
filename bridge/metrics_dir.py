"""The directory in which the processes of one machine share their metrics (PROMETHEUS_MULTIPROC_DIR,
prometheus_client's multiprocess mode): each process writes its own files there, and a scrape adds them up.

prometheus_client reads the variable once, when a process first imports it, so it must be in a process's
environment before the process starts: whoever starts the others sets it, and their children inherit it.

- Set by the operator (a start-up script, as prometheus_client's documentation recommends): used as it is; the
  script empties it between runs.
- Unset: the process that starts the others picks a folder under the instance folder, empties it (files of an
  earlier run would be counted again) and hands it down: `bridge run` uses `metrics/run` for the web, the workers
  and beat, so the web's /metrics shows them all; gunicorn (the Procfile's `web`) uses `metrics/web` for its
  workers (webhooks/gunicorn_config.py).

A Celery worker started on its own is one process (the threads pool): without the variable, its metrics stay in
its memory and it serves them itself when asked (workers/metrics_server.py).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

from bridge.config import instance_folder

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare(environ: MutableMapping[str, str], starter: str) -> Path:
    """The directory the processes started with `environ` share: the one it names, or else
    `<instance>/metrics/<starter>`, emptied and written into `environ`."""
    given = environ.get(VARIABLE)
    if given:
        return Path(given)
    directory = instance_folder(environ) / "metrics" / starter
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    environ[VARIABLE] = str(directory)
    return directory
