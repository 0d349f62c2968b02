"""A tenant's assets: named blobs with a media type, which playlists use.

An upload becomes an asset only if the player can show it (docs/media.md): its declared
type is checked before its body is read (`classify_media`), and its bytes once stored
(`cloud.probe`, in the upload's worker thread). A refused upload's blob is removed unless
an asset (of any tenant) already names the same bytes, and no asset row is made.

A stream is an asset without a blob: a URL (`sync.models.StreamUrl`: http, https or rtsp)
a device plays for its item's duration. The cloud never connects to it (a device does),
so nothing is fetched or probed; its sha256 is that of its URL, its size 0. The same URL
may be added twice, as the same bytes may be uploaded twice: two assets.

A rename or a delete records, in its own transaction, a change for every device that holds
a playlist using the asset (`cloud.views`): those devices, and only those, are woken and
get the new name or a tombstone. An upload concerns no device until a playlist uses it.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Callable

from cloud.admin_models import AssetCreated, AssetSummary
from cloud.blobs import StoredBlob
from cloud.changelog import ChangeLog, chunks
from cloud.errors import Conflict, NotFound, NotPlayable, TooManyRequests, UnsupportedMediaType
from cloud.probe import (
    IMAGE_TYPES,
    VIDEO_TYPES,
    MediaProbe,
    ProbeBusy,
    Probed,
    Prober,
    Refused,
)
from cloud.settings import DEFAULT_IMAGE_DURATION_MS
from cloud.store import Database, Row, new_id, utc_now_iso
from cloud.views import Views, epoch_text
from sync.models import (
    MAX_DURATION_MS,
    ChangeKind,
    MediaType,
    NewPlaylistItem,
    stream_sha256,
)

log = logging.getLogger(__name__)

GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
# How a person calls some types the player does not show.
REFUSED_TYPES = {
    "image/svg+xml": "SVG",
    "image/webp": "WebP",
    "image/tiff": "TIFF",
    "image/heic": "HEIC",
    "image/heif": "HEIF",
    "image/avif": "AVIF",
    "image/x-icon": "ICO",
    "image/vnd.microsoft.icon": "ICO",
    "video/x-msvideo": "AVI",
    "video/x-ms-wmv": "WMV",
    "video/x-flv": "FLV",
    "video/ogg": "Ogg",
    "video/3gpp": "3GP",
}
SHOWN_IMAGES = "PNG, JPEG, GIF or BMP"
SHOWN_VIDEOS = "MP4, MOV, WebM, MKV, MPEG or MPEG-TS"
RETRY_PROBE_AFTER_S = 10


def classify_media(content_type: str | None, name: str) -> tuple[MediaType, str]:
    """The media type and Content-Type of an upload, from its header or else its name.

    Raises `UnsupportedMediaType` for anything that is neither a video nor an image, and for
    a video or image type the player does not show (before a byte of the body is read).
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in GENERIC_CONTENT_TYPES:
        declared = (mimetypes.guess_type(name)[0] or "").lower()
    major = declared.partition("/")[0]
    if major == "video" and declared in VIDEO_TYPES:
        return "video", declared
    if major == "image" and declared in IMAGE_TYPES:
        return "image", declared
    if major in ("video", "image"):
        shown = REFUSED_TYPES.get(declared, declared)
        upload = SHOWN_VIDEOS if major == "video" else SHOWN_IMAGES
        raise UnsupportedMediaType(
            f"{name}: {shown} is not supported; upload {upload} "
            f"(docs/media.md lists what the player shows)"
        )
    raise UnsupportedMediaType(
        f"{name!r} is {declared or 'of an unknown type'}: upload a video or an image, "
        "with a Content-Type of video/* or image/* or a name ending in .mp4, .png, .jpg, ..."
    )


def describe(probed: Probed | None) -> str:
    """What a probe found, for a log line."""
    if probed is None:
        return "not probed"
    if probed.media_type == "image":
        return f"{probed.format} {probed.width}x{probed.height}"
    return f"{probed.codec} {probed.width}x{probed.height} {probed.duration_s:.1f} s"


STREAM_NEEDS_DURATION = "a stream plays for its item's duration: give duration_s"


def item_duration_ms(item: NewPlaylistItem, media_type: MediaType) -> int | None:
    """How long an item stays on screen: as given, 10 s for an image, a video to its end.

    A stream has no end of its own: ValueError (`STREAM_NEEDS_DURATION`) without one.
    """
    if item.duration_s is not None:
        return min(MAX_DURATION_MS, max(1, round(item.duration_s * 1000)))
    if media_type == "image":
        return DEFAULT_IMAGE_DURATION_MS
    if media_type == "stream":
        raise ValueError(STREAM_NEEDS_DURATION)
    return None  # a video plays to its end


def url_for_log(url: str) -> str:
    """A stream's URL without the password it may carry (rtsp://user:pass@camera/...)."""
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}{slash}{path}"


def asset_summary(row: Row) -> AssetSummary:
    return AssetSummary(
        id=row["id"],
        name=row["name"],
        sha256=row["sha256"],
        media_type=row["media_type"],
        size=row["size"],
        created_at=row["created_at"],
        playlists=row["playlists"],
        url=row["url"],
    )


def no_asset(asset_id: str) -> NotFound:
    return NotFound(f"no asset {asset_id} in this tenant: `signage-cloud asset list` lists them")


_ASSET_WITH_USE = (
    "SELECT a.*, (SELECT COUNT(DISTINCT i.playlist_id) FROM playlist_items i"
    " WHERE i.tenant_id = a.tenant_id AND i.asset_id = a.id) AS playlists FROM assets a"
)


class Content:
    def __init__(
        self,
        db: Database,
        changelog: ChangeLog,
        views: Views,
        *,
        clock: Callable[[], float] = time.time,
        prober: MediaProbe | None = None,
    ) -> None:
        self._db = db
        self._changelog = changelog
        self._views = views
        self._clock = clock
        self._prober = prober or Prober()

    def add_asset(
        self,
        *,
        tenant_id: str,
        name: str,
        blob: StoredBlob,
        media_type: MediaType,
        content_type: str,
    ) -> AssetCreated:
        """Make an asset of a stored upload the player can show; refuse (415) what it cannot.

        Probes the blob first (blocking: call it from a worker thread). A refused blob is
        removed, unless an asset already names the same bytes.
        """
        probed = self._probe(
            tenant_id=tenant_id,
            name=name,
            blob=blob,
            media_type=media_type,
            content_type=content_type,
        )
        asset = AssetCreated(
            id=new_id("ast"), name=name, sha256=blob.sha256, media_type=media_type, size=blob.size
        )
        with self._db.write():
            if not blob.path.is_file():
                # The same bytes, uploaded as something else, were refused and removed
                # between this upload's store and now.
                raise Conflict(f"{name}: its stored bytes were removed meanwhile; upload it again")
            self._db.insert(
                "assets",
                {
                    **asset.model_dump(),
                    "tenant_id": tenant_id,
                    "content_type": content_type,
                    "created_at": utc_now_iso(),
                },
            )
        log.info(
            "tenant %s added %s asset %s %r (%d bytes, sha256 %s, %s)",
            tenant_id,
            media_type,
            asset.id,
            name,
            blob.size,
            blob.sha256,
            describe(probed),
        )
        return asset

    def add_stream(self, *, tenant_id: str, name: str, url: str) -> AssetCreated:
        """Make an asset of a stream's URL (checked by the caller: `StreamUrl`).

        Nothing is fetched: the cloud never connects to a stream, a device plays it.
        """
        asset = AssetCreated(
            id=new_id("ast"),
            name=name,
            sha256=stream_sha256(url),
            media_type="stream",
            size=0,
            url=url,
        )
        with self._db.write():
            self._db.insert(
                "assets",
                {
                    **asset.model_dump(),
                    "tenant_id": tenant_id,
                    "content_type": None,
                    "created_at": utc_now_iso(),
                },
            )
        log.info(
            "tenant %s added stream asset %s %r (%s)", tenant_id, asset.id, name, url_for_log(url)
        )
        return asset

    def _probe(
        self,
        *,
        tenant_id: str,
        name: str,
        blob: StoredBlob,
        media_type: MediaType,
        content_type: str,
    ) -> Probed | None:
        kind = "a video" if media_type == "video" else "an image"
        try:
            probed = self._prober.probe(blob.path, media_type=media_type, content_type=content_type)
        except Refused as exc:
            kept = self._forget_blob(blob)
            log.info(
                "tenant %s: refused %s upload %r (%s, %d bytes): %s; blob %s %s",
                tenant_id,
                media_type,
                name,
                content_type,
                blob.size,
                exc.reason,
                blob.sha256,
                "kept (an asset names it)" if kept else "removed",
            )
            raise NotPlayable(f"{name} is not {kind} the player can show: {exc.reason}") from exc
        except ProbeBusy as exc:
            self._forget_blob(blob)
            log.warning(
                "tenant %s: upload %r not probed: %s; refused with 429", tenant_id, name, exc
            )
            raise TooManyRequests(
                f"{name}: the cloud is busy checking other uploads; "
                f"try again in {RETRY_PROBE_AFTER_S} s",
                retry_after=str(RETRY_PROBE_AFTER_S),
            ) from exc
        return probed

    def _forget_blob(self, blob: StoredBlob) -> bool:
        """Remove a refused upload's blob unless an asset names it; whether it was kept.

        Checked and removed inside a write transaction, so no asset row naming these bytes
        can be made between the check and the removal (`add_asset` checks the file is
        still there in its own).
        """
        with self._db.write():
            named = self._db.one(
                "SELECT 1 FROM assets WHERE sha256 = ? AND url IS NULL LIMIT 1", (blob.sha256,)
            )
            if named is None:
                blob.path.unlink(missing_ok=True)
        return named is not None

    def media_types(self, tenant_id: str, asset_ids: list[str]) -> dict[str, MediaType]:
        """{asset id: media type} of those of `asset_ids` that the tenant has."""
        found: dict[str, MediaType] = {}
        for chunk in chunks(asset_ids):
            marks = ",".join("?" * len(chunk))
            for row in self._db.all(
                f"SELECT id, media_type FROM assets WHERE tenant_id = ? AND id IN ({marks})",  # noqa: S608 - only placeholders
                (tenant_id, *chunk),
            ):
                found[row["id"]] = row["media_type"]
        return found

    def list_assets(self, tenant_id: str) -> list[AssetSummary]:
        """The tenant's assets, oldest first, each with how many playlists use it."""
        rows = self._db.all(
            f"{_ASSET_WITH_USE} WHERE a.tenant_id = ? ORDER BY a.created_at, a.id",
            (tenant_id,),
        )
        return [asset_summary(row) for row in rows]

    def _asset(self, tenant_id: str, asset_id: str) -> Row:
        row = self._db.one(
            f"{_ASSET_WITH_USE} WHERE a.tenant_id = ? AND a.id = ?",
            (tenant_id, asset_id),
        )
        if row is None:
            raise no_asset(asset_id)
        return row

    def rename_asset(self, *, tenant_id: str, asset_id: str, name: str) -> AssetSummary:
        """Rename an asset; the devices holding a playlist that uses it get the new name."""
        with self._db.write():
            self._asset(tenant_id, asset_id)
            self._db.execute(
                "UPDATE assets SET name = ? WHERE tenant_id = ? AND id = ?",
                (name, tenant_id, asset_id),
            )
            views = self._views
            playlists = views.playlists_using(tenant_id, asset_id)
            now = epoch_text(self._clock())
            devices = views.holding_playlists(tenant_id, playlists, now=now)
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, devices, [(ChangeKind.ASSET, asset_id)])
            row = self._asset(tenant_id, asset_id)
        log.info("tenant %s renamed asset %s to %r", tenant_id, asset_id, name)
        return asset_summary(row)

    def delete_asset(self, *, tenant_id: str, asset_id: str, force: bool) -> AssetSummary:
        """Delete an asset; 409 while a playlist uses it, unless `force` takes it out of them.

        The devices holding a playlist that used it get a tombstone for it and those
        playlists anew. The blob stays: other assets (of any tenant) may have the same bytes.
        """
        with self._db.write():
            row = self._asset(tenant_id, asset_id)
            views = self._views
            playlists = views.playlists_using(tenant_id, asset_id)
            if playlists and not force:
                shown = ", ".join(playlists[:3]) + (" ..." if len(playlists) > 3 else "")
                raise Conflict(
                    f"asset {asset_id} is used by {len(playlists)} playlist(s) ({shown}): "
                    "take it out of them first, or delete it with --force to do so"
                )
            now = epoch_text(self._clock())
            devices = views.holding_playlists(tenant_id, playlists, now=now)
            # Each device: the asset, and those of the playlists that it holds.
            changes = {
                device_id: [(str(ChangeKind.ASSET), asset_id)]
                + [(str(ChangeKind.PLAYLIST), p) for p in view.playlist_ids & set(playlists)]
                for device_id, view in views.of(tenant_id, devices, now=now).items()
            }
            self._db.execute(
                "DELETE FROM playlist_items WHERE tenant_id = ? AND asset_id = ?",
                (tenant_id, asset_id),
            )
            self._db.execute(
                "DELETE FROM assets WHERE tenant_id = ? AND id = ?", (tenant_id, asset_id)
            )
            self._changelog.record_each(tenant_id, self._db.next_seq(tenant_id), changes)
        log.info(
            "tenant %s deleted asset %s %r (taken out of %d playlists)",
            tenant_id,
            asset_id,
            row["name"],
            len(playlists),
        )
        return asset_summary(row)

    def blob_of_tenant(self, *, tenant_id: str, sha256: str) -> tuple[str, str]:
        """(sha256, Content-Type) of a blob that one of the tenant's assets names.

        A stream names no blob: its sha256 is answered like one nobody has (404).
        """
        row = self._db.one(
            "SELECT sha256, content_type FROM assets WHERE tenant_id = ? AND sha256 = ?"
            " AND url IS NULL ORDER BY created_at LIMIT 1",
            (tenant_id, sha256),
        )
        if row is None:
            raise NotFound(f"no asset with sha256 {sha256} for this device")
        return row["sha256"], row["content_type"]


__all__ = [
    "STREAM_NEEDS_DURATION",
    "Content",
    "asset_summary",
    "classify_media",
    "item_duration_ms",
    "no_asset",
    "url_for_log",
]
