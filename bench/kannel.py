"""Kannel beside the bridge (Debian's `kannel` package), configured as in shared/reference/peers.md section 2.1:

    load generator --GET ?username&password&from&to&text--> HTTP "SMSC" (system-type generic, bearerbox)
      --> smsbox --get-url--> router (the fake carrier's /route: X-Kannel-To = the other participant)
      --> bearerbox --send-url--> the fake carrier's /send

kannel.conf is written from the template below into the benchmark's temp dir at run time; bearerbox starts first,
then smsbox; both are stopped with the other processes. The spool store keeps queued messages on disk, as the
bridge keeps them in PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.stack import START_TIMEOUT_SECONDS, ProcessSet, free_port, wait_until

KANNEL_CONF = """\
group = core
admin-port = {admin_port}
admin-interface = 127.0.0.1
admin-password = {admin_password}
status-password = {admin_password}
admin-allow-ip = "127.0.0.1"
admin-deny-ip = "*.*.*.*"
smsbox-port = {smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
box-deny-ip = "*.*.*.*"
log-file = "{workdir}/kannel-bearerbox.log"
log-level = {log_level}
access-log = "{workdir}/bearerbox-access.log"
store-type = spool
store-location = "{workdir}/spool"

group = smsc
smsc = http
smsc-id = carrier
system-type = generic
port = {smsc_port}
connect-allow-ip = "127.0.0.1"
smsc-username = {username}
smsc-password = {password}
send-url = "{carrier_url}/send?from=%P&to=%p&text=%b"
status-success-regex = "ok"
status-permfail-regex = "failure"
status-tempfail-regex = "retry"
max-pending-submits = {max_pending_submits}

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
log-file = "{workdir}/kannel-smsbox.log"
log-level = {log_level}
access-log = "{workdir}/smsbox-access.log"
max-pending-requests = {max_pending_requests}

group = sms-service
keyword = default
catch-all = true
get-url = "{carrier_url}/route?from=%p&to=%P&text=%a"
accept-x-kannel-headers = true
max-messages = 1
concatenation = false
omit-empty = true
"""

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"


def ensure_installed() -> None:
    """Installs Debian's kannel package if bearerbox is missing (registry software; needs root), or says why not."""
    if Path(BEARERBOX).exists() and Path(SMSBOX).exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError("Kannel is not installed and apt-get is not available: install Debian's `kannel` package")
    for attempt in (
        [apt, "install", "-y", "-q", "kannel"],
        [apt, "update", "-q"],
        [apt, "install", "-y", "-q", "kannel"],
    ):
        print("installing Kannel:", " ".join(attempt[1:]), flush=True)
        subprocess.run(attempt, check=False, timeout=600, stdout=subprocess.DEVNULL)
        if Path(BEARERBOX).exists() and Path(SMSBOX).exists():
            return
    raise RuntimeError("could not install Debian's `kannel` package (apt-get install -y kannel failed; root needed)")


def kannel_version() -> str:
    try:
        output = subprocess.run([BEARERBOX, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    found = re.search(r"version `([^']+)'", output)  # "Kannel bearerbox version `1.4.5'."
    return found.group(1) if found else output.strip()[:40] or "unknown"


@dataclass
class KannelStack:
    processes: ProcessSet
    workdir: Path
    carrier_url: str
    log_level: int = 1  # info, as the bridge logs at INFO
    max_pending_submits: int = 100
    max_pending_requests: int = 512
    admin_port: int = field(default_factory=free_port)
    smsbox_port: int = field(default_factory=free_port)
    smsc_port: int = field(default_factory=free_port)
    username: str = "carrier"
    password: str = "secret"
    admin_password: str = "bench"

    @property
    def smsc_url(self) -> str:
        return f"http://127.0.0.1:{self.smsc_port}"

    def write_config(self) -> Path:
        (self.workdir / "spool").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kannel.conf"
        config.write_text(
            KANNEL_CONF.format(
                admin_port=self.admin_port,
                admin_password=self.admin_password,
                smsbox_port=self.smsbox_port,
                smsc_port=self.smsc_port,
                workdir=self.workdir,
                log_level=self.log_level,
                username=self.username,
                password=self.password,
                carrier_url=self.carrier_url,
                max_pending_submits=self.max_pending_submits,
                max_pending_requests=self.max_pending_requests,
            )
        )
        return config

    def status(self) -> str:
        answer = requests.get(
            f"http://127.0.0.1:{self.admin_port}/status.txt", params={"password": self.admin_password}, timeout=2
        )
        return answer.text

    def _status_shows(self, *needles: str) -> bool:
        self.processes.check_alive()
        try:
            text = self.status()
        except requests.RequestException:
            return False
        return all(needle in text for needle in needles)

    def start(self) -> None:
        ensure_installed()
        config = self.write_config()
        # -v 4: only panics on stderr (its debug output would cost CPU); the log files get info and up.
        self.processes.start("bearerbox", [BEARERBOX, "-v", "4", str(config)])
        wait_until(lambda: self._status_shows("online"), START_TIMEOUT_SECONDS, "bearerbox and its HTTP SMSC")
        self.processes.start("smsbox", [SMSBOX, "-v", "4", str(config)])
        wait_until(lambda: self._status_shows("smsbox:"), START_TIMEOUT_SECONDS, "smsbox to connect to bearerbox")
        time.sleep(0.5)  # smsbox connects before it has opened its HTTP client

    def pids(self) -> dict[str, int]:
        return {m.name: m.process.pid for m in self.processes.running if m.name in ("bearerbox", "smsbox")}
