"""Settings from the environment (12-factor), with embedded defaults for a machine with no servers."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bridge.sids import new_sid

DEFAULT_PORT = 5000
TWILIO, SIMULATOR = "twilio", "simulator"
CARRIERS = (TWILIO, SIMULATOR)
NO_CARRIER = (
    "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set: set them, or BRIDGE_CARRIER=simulator to send nowhere"
)
CREDENTIALS_FILE = "credentials.json"
ADMIN_FILE = "admin.json"


class ConfigurationError(RuntimeError):
    """The environment describes a bridge that cannot start."""


@dataclass(frozen=True)
class Credentials:
    account_sid: str
    auth_token: str
    generated: bool = False


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    redis_url: str | None  # None: the embedded Redis the bridge starts itself
    port: int
    public_base_url: str
    account_sid: str
    auth_token: str
    credentials_generated: bool = False
    max_request_bytes: int = 1_048_576
    proxy_count: int = 0  # reverse proxies in front of the web process (Heroku: 1)
    log_level: str = "INFO"
    log_format: str = "text"  # LOG_FORMAT: "text", or "json" for one JSON object per line
    sentry_dsn: str | None = field(default=None, repr=False)  # SENTRY_DSN: errors go to Sentry when set
    # The carrier (Twilio Programmable Messaging), or the built-in simulator: see `carrier`.
    carrier_choice: str | None = None  # BRIDGE_CARRIER, when set: "twilio" or "simulator"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    carrier_timeout: float = 10.0
    carrier_sync_seconds: float = 900.0  # how often beat reads the carrier account's numbers (0: only at worker start)
    # Delivery: attempts before a delivery fails, backoff bounds, how long a claim lasts, sweep period.
    delivery_max_attempts: int = 8
    send_concurrency: int = 8  # sends of one message's recipients in flight at once per worker (benchmarks.md)
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    delivery_lease_seconds: float = 60.0
    sweep_interval_seconds: float = 5.0
    sweep_grace_seconds: float = 15.0  # how overdue a delivery's task must be before the sweeper re-sends it
    extra: Mapping[str, str] = field(default_factory=dict)
    # Conversations webhooks to the application's backend (bridge/hooks/) and the change-event log.
    webhook_timeout: float = 5.0  # Twilio's limit, for pre- and post-event webhooks alike
    webhook_max_attempts: int = 12  # post-event calls (about 37 min of backoff); PostWebhookRetryCount may add more
    event_retention_days: float = 7.0  # events, and webhook calls delivered, are pruned after this
    # Media (bridge/media.py, bridge/media_storage.py, bridge/fetch.py).
    media_max_bytes: int = 16 * 1024 * 1024  # largest upload or fetched carrier media
    fetch_allow_private: bool = False  # let the media fetcher reach private/loopback addresses (tests, on-premises)
    fetch_timeout: float = 30.0  # seconds for one whole media download, redirects included
    s3_bucket: str | None = None  # set: media bytes go to this S3-compatible bucket instead of the database
    s3_endpoint_url: str | None = None  # for S3-compatible services other than AWS (MinIO, R2, ...)
    s3_region: str | None = None
    s3_prefix: str = ""  # prepended to every object key
    s3_access_key_id: str | None = None  # unset: boto3's usual credential chain (instance role, ...)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    # The admin console (/admin) and its JSON API: its own credentials, not the API's.
    admin_username: str = "admin"
    admin_password: str = field(default="", repr=False)
    admin_password_generated: bool = False
    secret_key: str = field(default="", repr=False)  # signs admin session cookies
    # Prometheus metrics (/metrics, and a worker's own endpoint): their own token; unset, nothing is served.
    metrics_token: str = field(default="", repr=False)
    metrics_port: int | None = None  # a worker serves its own metrics on this port (web processes use /metrics)
    gateway_port: int = DEFAULT_PORT + 1  # `bridge run`'s chat gateway (a deployed gateway listens on its $PORT)
    metrics_address: str = "127.0.0.1"  # the interface a worker's metrics endpoint listens on
    # Push notifications (bridge/push/): where FCM and APNs are (None: Google's and Apple's own), a CA bundle to
    # trust for APNs instead of the public ones, and attempts before a push fails.
    fcm_url: str | None = None
    apns_url: str | None = None
    apns_ca_file: str | None = None
    push_max_attempts: int = 8
    # Browsers: the page origins (scheme://host[:port]) whose scripts may open the chat socket and call the media
    # service (BRIDGE_ALLOWED_ORIGINS, comma-separated; "*" any). Empty: the bridge's own origin only.
    allowed_origins: tuple[str, ...] = ()
    gateway_url: str | None = None  # BRIDGE_GATEWAY_URL: the chat socket's public URL, which the web chat page dials

    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_gateway_url(self) -> str:
        """Where browsers open the chat socket: BRIDGE_GATEWAY_URL, else `bridge run`'s gateway on the public host."""
        if self.gateway_url:
            return self.gateway_url
        parts = urlsplit(self.public_base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.hostname}:{self.gateway_port}/v3/wsconnect"

    @property
    def carrier(self) -> str | None:
        """Who sends: BRIDGE_CARRIER if set; else Twilio when its account is; else the simulator, but only on the
        embedded default (SQLite). A real database with no carrier is None: a worker refuses to start (NO_CARRIER)
        rather than report messages delivered that went nowhere."""
        if self.carrier_choice:
            return self.carrier_choice
        if self.twilio_account_sid:
            return TWILIO
        return SIMULATOR if self.database_is_sqlite else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        instance_dir = instance_folder(env)
        port = _int(env, "PORT", DEFAULT_PORT)
        database_url = normalize_database_url(env.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'bridge.db'}")
        credentials = load_credentials(env, instance_dir)
        admin_password, admin_generated = load_admin_password(env, instance_dir)
        metrics_token = load_metrics_token(env, credentials.auth_token, admin_password)
        public_base_url = (env.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/")
        twilio_sid, twilio_token = env.get("TWILIO_ACCOUNT_SID") or None, env.get("TWILIO_AUTH_TOKEN") or None
        if twilio_sid and not twilio_token:
            raise ConfigurationError("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not")
        carrier_choice = (env.get("BRIDGE_CARRIER") or "").strip().lower() or None
        if carrier_choice not in (None, *CARRIERS):
            raise ConfigurationError(f"BRIDGE_CARRIER must be {' or '.join(CARRIERS)}, got {carrier_choice!r}")
        if carrier_choice == TWILIO and not twilio_sid:
            raise ConfigurationError(f"BRIDGE_CARRIER is twilio but {NO_CARRIER.split(': ')[0]}")
        return cls(
            instance_dir=instance_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            port=port,
            public_base_url=public_base_url,
            account_sid=credentials.account_sid,
            auth_token=credentials.auth_token,
            credentials_generated=credentials.generated,
            max_request_bytes=_int(env, "BRIDGE_MAX_REQUEST_BYTES", 1_048_576),
            proxy_count=_int(env, "BRIDGE_PROXY_COUNT", 0),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_format=log_format(env),
            sentry_dsn=env.get("SENTRY_DSN") or None,
            carrier_choice=carrier_choice,
            twilio_account_sid=twilio_sid,
            twilio_auth_token=twilio_token,
            twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com").rstrip("/"),
            carrier_timeout=_float(env, "BRIDGE_CARRIER_TIMEOUT", 10.0),
            carrier_sync_seconds=_float(env, "BRIDGE_CARRIER_SYNC_SECONDS", 900.0),
            delivery_max_attempts=_int(env, "BRIDGE_DELIVERY_MAX_ATTEMPTS", 8),
            send_concurrency=max(1, _int(env, "BRIDGE_SEND_CONCURRENCY", 8)),
            retry_base_seconds=_float(env, "BRIDGE_RETRY_BASE_SECONDS", 2.0),
            retry_max_seconds=_float(env, "BRIDGE_RETRY_MAX_SECONDS", 600.0),
            delivery_lease_seconds=_float(env, "BRIDGE_DELIVERY_LEASE_SECONDS", 60.0),
            sweep_interval_seconds=_float(env, "BRIDGE_SWEEP_INTERVAL_SECONDS", 5.0),
            sweep_grace_seconds=_float(env, "BRIDGE_SWEEP_GRACE_SECONDS", 15.0),
            webhook_timeout=_float(env, "BRIDGE_WEBHOOK_TIMEOUT", 5.0),
            webhook_max_attempts=_int(env, "BRIDGE_WEBHOOK_MAX_ATTEMPTS", 12),
            event_retention_days=_float(env, "BRIDGE_EVENT_RETENTION_DAYS", 7.0),
            extra={k: v for k, v in env.items() if k.startswith(("BRIDGE_", "TWILIO_"))},
            media_max_bytes=_int(env, "BRIDGE_MEDIA_MAX_BYTES", 16 * 1024 * 1024),
            fetch_allow_private=_bool(env, "BRIDGE_FETCH_ALLOW_PRIVATE", False),
            fetch_timeout=_float(env, "BRIDGE_FETCH_TIMEOUT", 30.0),
            s3_bucket=env.get("BRIDGE_S3_BUCKET") or None,
            s3_endpoint_url=env.get("BRIDGE_S3_ENDPOINT_URL") or None,
            s3_region=env.get("BRIDGE_S3_REGION") or None,
            s3_prefix=env.get("BRIDGE_S3_PREFIX") or "",
            s3_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            s3_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            admin_username=env.get("BRIDGE_ADMIN_USERNAME") or "admin",
            admin_password=admin_password,
            admin_password_generated=admin_generated,
            secret_key=env.get("BRIDGE_SECRET_KEY") or derived_secret(credentials.auth_token, "admin-session"),
            metrics_token=metrics_token,
            metrics_port=_optional_int(env, "BRIDGE_METRICS_PORT"),
            gateway_port=_int(env, "BRIDGE_GATEWAY_PORT", port + 1),
            metrics_address=env.get("BRIDGE_METRICS_ADDRESS") or "127.0.0.1",
            fcm_url=(env.get("BRIDGE_FCM_URL") or "").rstrip("/") or None,
            apns_url=(env.get("BRIDGE_APNS_URL") or "").rstrip("/") or None,
            apns_ca_file=env.get("BRIDGE_APNS_CA_FILE") or None,
            push_max_attempts=_int(env, "BRIDGE_PUSH_MAX_ATTEMPTS", 8),
            allowed_origins=allowed_origins(env),
            gateway_url=(env.get("BRIDGE_GATEWAY_URL") or "").strip() or None,
        )


def allowed_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    values = [item.strip().rstrip("/") for item in (env.get("BRIDGE_ALLOWED_ORIGINS") or "").split(",")]
    for value in values:
        if value and value != "*" and not re.fullmatch(r"https?://[^/\s]+", value):
            raise ConfigurationError(f"BRIDGE_ALLOWED_ORIGINS takes origins (https://chat.example.com), got {value!r}")
    return tuple(value.lower() for value in values if value)


def log_format(env: Mapping[str, str]) -> str:
    value = (env.get("LOG_FORMAT") or "text").strip().lower()
    if value not in ("text", "json"):
        raise ConfigurationError(f"LOG_FORMAT must be text or json, got {value!r}")
    return value


def instance_folder(env: Mapping[str, str]) -> Path:
    """The folder for the embedded database, Redis, generated credentials and metrics files."""
    return Path(env.get("BRIDGE_INSTANCE_DIR") or "instance").resolve()


def derived_secret(root: str, purpose: str) -> str:
    """A stable secret for one purpose, derived from another, so that one leaked cookie key reveals nothing else."""
    return hmac.new(root.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_number(env, name, default, int))


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    return _int(env, name, 0) if env.get(name) else None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return float(_number(env, name, default, float))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, kind: type[int] | type[float]) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from exc


def normalize_database_url(url: str) -> str:
    """Heroku hands out postgres://; SQLAlchemy wants an explicit psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_credentials(env: Mapping[str, str], instance_dir: Path) -> Credentials:
    """The API's own credentials: from the environment, or generated once and kept in the instance folder."""
    sid, token = env.get("BRIDGE_ACCOUNT_SID"), env.get("BRIDGE_AUTH_TOKEN")
    if sid or token:
        if not (sid and token):
            raise ConfigurationError("set both BRIDGE_ACCOUNT_SID and BRIDGE_AUTH_TOKEN, or neither")
        if not (sid.startswith("AC") and len(sid) == 34):
            raise ConfigurationError("BRIDGE_ACCOUNT_SID must look like AC followed by 32 hex digits")
        if len(token) < 16:
            raise ConfigurationError("BRIDGE_AUTH_TOKEN must be at least 16 characters")
        return Credentials(sid, token)
    stored, generated = generated_once(
        instance_dir / CREDENTIALS_FILE, lambda: {"account_sid": new_sid("AC"), "auth_token": secrets.token_hex(16)}
    )
    return Credentials(stored["account_sid"], stored["auth_token"], generated=generated)


def load_admin_password(env: Mapping[str, str], instance_dir: Path) -> tuple[str, bool]:
    """The admin console's password: from the environment, or generated once and kept in the instance folder.
    Returns it and whether it was generated just now (to be printed once)."""
    given = env.get("BRIDGE_ADMIN_PASSWORD")
    if given:
        if len(given) < 12:
            raise ConfigurationError("BRIDGE_ADMIN_PASSWORD must be at least 12 characters")
        return given, False
    stored, generated = generated_once(instance_dir / ADMIN_FILE, lambda: {"password": secrets.token_urlsafe(18)})
    return stored["password"], generated


def load_metrics_token(env: Mapping[str, str], auth_token: str, admin_password: str) -> str:
    """The token a Prometheus scrape presents: its own secret, never one that also opens the API or the console."""
    token = env.get("BRIDGE_METRICS_TOKEN") or ""
    if token and len(token) < 16:
        raise ConfigurationError("BRIDGE_METRICS_TOKEN must be at least 16 characters")
    if token and any(hmac.compare_digest(token.encode(), other.encode()) for other in (auth_token, admin_password)):
        raise ConfigurationError("BRIDGE_METRICS_TOKEN must differ from BRIDGE_AUTH_TOKEN and BRIDGE_ADMIN_PASSWORD")
    if env.get("BRIDGE_METRICS_PORT") and not token:
        raise ConfigurationError("BRIDGE_METRICS_PORT serves metrics behind BRIDGE_METRICS_TOKEN: set it too")
    return token


def generated_once(path: Path, make: Callable[[], dict[str, str]]) -> tuple[dict[str, str], bool]:
    """The JSON in `path`, created with `make()` by whichever process gets there first (O_EXCL), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the winner may still be writing it
            text = path.read_text()
            if text:
                return json.loads(text), False
            time.sleep(0.02)
        raise ConfigurationError(f"{path} is empty; delete it to generate new credentials") from None
    with os.fdopen(fd, "w") as handle:
        json.dump(fresh, handle)
    return fresh, True
