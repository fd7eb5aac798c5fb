"""`bridge webchat fetch-sdk`: puts the official Conversations SDK's browser bundle where the web chat page (/chat)
serves it from, taken from the npm registry at build time (never from a CDN when a page loads).

The version is pinned, with its integrity hash, by npm's own lock file (webhooks/webchat/sdk/package-lock.json), so
tools that keep npm locks up to date work on it; the download is checked against that hash before anything is
written. No Node is needed: `scripts/setup` and Heroku's build (bin/post_compile) run this with Python only.
`NPM_CONFIG_REGISTRY` (npm's own variable) points it at a mirror.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import click
import requests

from webhooks.webchat import SDK_FILE, VENDOR_DIR

LOCK_FILE = VENDOR_DIR.parents[1] / "sdk" / "package-lock.json"
PACKAGE = "@twilio/conversations"
# What the page needs from the package: the UMD bundle (global `Twilio.Conversations`) and its licence.
FILES = {
    "package/builds/twilio-conversations.min.js": SDK_FILE.name,
    "package/LICENSE": "twilio-conversations.LICENSE",
}
STAMP = ".installed"  # the version and integrity of what the folder holds
DEFAULT_REGISTRY = "https://registry.npmjs.org"
TIMEOUT_SECONDS = 60


class BundleError(Exception):
    pass


@dataclass(frozen=True)
class Pin:
    version: str
    integrity: str  # "sha512-<base64>", as npm writes it

    @property
    def stamp(self) -> str:
        return f"{PACKAGE}@{self.version} {self.integrity}\n"


def pinned(lock_file: Path = LOCK_FILE) -> Pin:
    entry = json.loads(lock_file.read_text())["packages"][f"node_modules/{PACKAGE}"]
    return Pin(entry["version"], entry["integrity"])


def tarball_url(registry: str, version: str) -> str:
    """The registry's tarball address: `<registry>/@scope/name/-/name-<version>.tgz`."""
    return f"{registry.rstrip('/')}/{PACKAGE}/-/{PACKAGE.split('/')[-1]}-{version}.tgz"


def check_integrity(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        raise BundleError(f"the lock file's integrity {integrity[:20]!r} uses an unknown algorithm")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise BundleError(f"the downloaded {PACKAGE} does not match the lock file's {algorithm} hash")


def unpack(data: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        contents = {}
        for member_name, file_name in FILES.items():
            try:
                member = archive.extractfile(member_name)
            except KeyError:
                member = None
            if member is None:
                raise BundleError(f"{PACKAGE} has no {member_name.removeprefix('package/')}")
            contents[file_name] = member.read()
    into.mkdir(parents=True, exist_ok=True)
    for file_name, content in contents.items():
        (into / file_name).write_bytes(content)


def is_installed(pin: Pin, vendor_dir: Path = VENDOR_DIR) -> bool:
    stamp = vendor_dir / STAMP
    files_present = all((vendor_dir / name).is_file() for name in FILES.values())
    return files_present and stamp.is_file() and stamp.read_text() == pin.stamp


def fetch(pin: Pin, registry: str, vendor_dir: Path = VENDOR_DIR) -> None:
    url = tarball_url(registry, pin.version)
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.RequestException as error:
        raise BundleError(f"could not download {url}: {error}") from None
    check_integrity(response.content, pin.integrity)  # before anything is unpacked or written
    unpack(response.content, vendor_dir)
    (vendor_dir / STAMP).write_text(pin.stamp)


@click.group()
def webchat() -> None:
    """The web chat page (/chat)."""


@webchat.command("fetch-sdk")
@click.option("--force", is_flag=True, help="Download again even when the pinned version is in place.")
def fetch_sdk(force: bool) -> None:
    """Downloads the pinned Conversations SDK browser bundle from npm, checks its hash, and installs it for /chat."""
    pin = pinned()
    if not force and is_installed(pin):
        click.echo(f"{PACKAGE}@{pin.version} is in place ({VENDOR_DIR})")
        return
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    try:
        fetch(pin, registry)
    except BundleError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"installed {PACKAGE}@{pin.version} for /chat ({VENDOR_DIR})")
