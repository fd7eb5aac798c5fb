"""The multiprocess metrics directory: chosen and emptied by the process that starts the others, inherited as it
is by their children, and in place before anything imports prometheus_client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bridge.metrics_dir import VARIABLE, prepare


def test_unset_a_folder_under_the_instance_is_emptied_and_handed_down(tmp_path: Path) -> None:
    stale = tmp_path / "metrics" / "web" / "counter_4242.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run")
    keep = stale.parent / "notes.txt"
    keep.write_text("not a metrics file")
    env = {"BRIDGE_INSTANCE_DIR": str(tmp_path)}
    directory = prepare(env, "web")
    assert directory == tmp_path / "metrics" / "web" and env[VARIABLE] == str(directory)
    assert not stale.exists() and keep.exists()


def test_a_directory_already_named_is_used_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "counter_4242.db").write_bytes(b"a sibling process's counts")
    env = {"BRIDGE_INSTANCE_DIR": str(tmp_path), VARIABLE: str(shared)}
    assert prepare(env, "web") == shared
    assert (shared / "counter_4242.db").exists()  # whoever named it empties it, not a child
    assert not (tmp_path / "metrics").exists()


def test_gunicorns_settings_set_the_directory_before_prometheus_client_is_imported(tmp_path: Path) -> None:
    """gunicorn's master imports its settings module and forks the workers from itself: had it imported
    prometheus_client first, every worker would keep its counts in memory, invisible to a scrape."""
    check = (
        "import os, sys, webhooks.gunicorn_config; "
        "print('prometheus_client' in sys.modules, os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    env = {"PATH": "/usr/bin:/bin", "BRIDGE_INSTANCE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", str(tmp_path / "metrics" / "web")]
