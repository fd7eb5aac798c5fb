"""Where media bytes live: in the database (the default, nothing to set up) or in S3-compatible object storage.

A `Media` row names its backend (`storage`) and key (`storage_key`), so media written before a bucket was
configured stays readable afterwards: `build_store` returns a store that writes to the configured backend and
reads each row from the backend it names.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridge.config import Settings
from bridge.models import Media, MediaContent

DATABASE = "database"
S3 = "s3"


class MediaStorageError(RuntimeError):
    """The bytes could not be written, read or deleted (a backend is down or misconfigured)."""


class MediaStore(Protocol):
    """Puts, reads and deletes the bytes of one media row. `session` is the caller's transaction."""

    def put(self, session: Session, media: Media, data: bytes) -> None: ...

    def read(self, session: Session, media: Media) -> bytes: ...

    def delete(self, session: Session, media: Media) -> None: ...


class DatabaseStore:
    """Bytes in `media_content`, written in the caller's transaction: a rollback leaves nothing behind."""

    name = DATABASE

    def put(self, session: Session, media: Media, data: bytes) -> None:
        if media.id is None:
            session.flush()  # the content row references the media row's id
        existing = session.get(MediaContent, media.id)
        if existing is None:
            session.add(MediaContent(media_id=media.id, data=data))
        else:
            existing.data = data
        media.storage, media.storage_key = DATABASE, None
        session.flush()

    def read(self, session: Session, media: Media) -> bytes:
        data = session.scalar(select(MediaContent.data).where(MediaContent.media_id == media.id))
        if data is None:
            raise MediaStorageError(f"media {media.sid} has no stored content")
        return bytes(data)

    def delete(self, session: Session, media: Media) -> None:
        session.execute(delete(MediaContent).where(MediaContent.media_id == media.id))


class S3Store:
    """Bytes as objects `{prefix}{media sid}` in one bucket of any S3-compatible service.

    The object is written before the caller commits; if the transaction then rolls back, the object is an
    orphan nobody links to (harmless, and rare). Deleting a service removes its rows through the database's
    cascade but not its objects: expire them with a bucket lifecycle rule if that matters.
    """

    name = S3

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        # boto3 is imported here and botocore in each method: only deployments that use S3 pay for the import.
        import boto3
        from botocore.config import Config

        if not settings.s3_bucket:
            raise MediaStorageError("BRIDGE_S3_BUCKET is not set")
        config = Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style addressing is what most S3-compatible servers (MinIO, moto, ...) understand.
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            # Checksums only where S3 requires them: several S3-compatible servers reject the newer defaults.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
            config=config,
        )
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def key_for(self, media: Media) -> str:
        return f"{self.prefix}{media.sid}"  # SIDs are unique across services

    def put(self, session: Session, media: Media, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = media.storage_key if media.storage == S3 and media.storage_key else self.key_for(media)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=media.content_type)
        except (BotoCoreError, ClientError) as exc:
            raise MediaStorageError(f"could not store media {media.sid} in S3: {exc}") from exc
        media.storage, media.storage_key = S3, key

    def read(self, session: Session, media: Media) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        if not media.storage_key:
            raise MediaStorageError(f"media {media.sid} has no S3 key")
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=media.storage_key)
            return bytes(response["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise MediaStorageError(f"could not read media {media.sid} from S3: {exc}") from exc

    def delete(self, session: Session, media: Media) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if not media.storage_key:
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=media.storage_key)
        except (BotoCoreError, ClientError) as exc:
            raise MediaStorageError(f"could not delete media {media.sid} from S3: {exc}") from exc


class RoutingStore:
    """Writes to `primary`; reads and deletes through the backend each row names."""

    def __init__(self, primary: DatabaseStore | S3Store, database: DatabaseStore, s3: S3Store | None) -> None:
        self.primary = primary
        self.backends: dict[str, DatabaseStore | S3Store] = {DATABASE: database}
        if s3 is not None:
            self.backends[S3] = s3

    def _backend(self, media: Media) -> DatabaseStore | S3Store:
        backend = self.backends.get(media.storage or "")
        if backend is None:
            hint = " (set BRIDGE_S3_BUCKET)" if media.storage == S3 else ""
            raise MediaStorageError(f"media {media.sid} is stored in {media.storage!r}, which is not configured{hint}")
        return backend

    def put(self, session: Session, media: Media, data: bytes) -> None:
        self.primary.put(session, media, data)

    def read(self, session: Session, media: Media) -> bytes:
        return self._backend(media).read(session, media)

    def delete(self, session: Session, media: Media) -> None:
        if media.storage:
            self._backend(media).delete(session, media)


def build_store(settings: Settings) -> RoutingStore:
    """The store for this process: S3 when `BRIDGE_S3_BUCKET` is set, else the database."""
    database = DatabaseStore()
    s3 = S3Store.from_settings(settings) if settings.s3_bucket else None
    return RoutingStore(s3 or database, database, s3)
