"""A tenant's content: assets (named blobs with a media type) and playlists of them.

Every write here bumps the tenant's revision in the same transaction, so the devices'
cursor moves exactly when what they may see changes.
"""

from __future__ import annotations

import logging
import mimetypes

from cloud.blobs import StoredBlob
from cloud.errors import NotFound, Unprocessable, UnsupportedMediaType
from cloud.settings import DEFAULT_IMAGE_DURATION_MS
from cloud.store import Database, new_id, utc_now_iso
from sync.models import (
    MAX_DURATION_MS,
    AssetCreated,
    MediaType,
    NewPlaylist,
    NewPlaylistItem,
    PlaylistCreated,
)

log = logging.getLogger(__name__)

# Ids per `IN (...)` query: far below SQLite's limit on variables in one statement.
_IDS_PER_QUERY = 500

GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def classify_media(content_type: str | None, name: str) -> tuple[MediaType, str]:
    """The media type and Content-Type of an upload, from its header or else its name.

    Raises `UnsupportedMediaType` for anything that is neither a video nor an image.
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in GENERIC_CONTENT_TYPES:
        declared = (mimetypes.guess_type(name)[0] or "").lower()
    major = declared.partition("/")[0]
    if major == "video":
        return "video", declared
    if major == "image":
        return "image", declared
    raise UnsupportedMediaType(
        f"{name!r} is {declared or 'of an unknown type'}: upload a video or an image, "
        "with a Content-Type of video/* or image/* or a name ending in .mp4, .png, .jpg, ..."
    )


def item_duration_ms(item: NewPlaylistItem, media_type: MediaType) -> int | None:
    """How long an item stays on screen: as given, 10 s for an image, a video to its end."""
    if item.duration_s is not None:
        return min(MAX_DURATION_MS, max(1, round(item.duration_s * 1000)))
    if media_type == "image":
        return DEFAULT_IMAGE_DURATION_MS
    return None  # a video plays to its end


class Content:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_asset(
        self,
        *,
        tenant_id: str,
        name: str,
        blob: StoredBlob,
        media_type: MediaType,
        content_type: str,
    ) -> AssetCreated:
        asset = AssetCreated(
            id=new_id("ast"), name=name, sha256=blob.sha256, media_type=media_type, size=blob.size
        )
        with self._db.write():
            self._db.insert(
                "assets",
                {
                    **asset.model_dump(),
                    "tenant_id": tenant_id,
                    "content_type": content_type,
                    "created_at": utc_now_iso(),
                },
            )
            self._db.bump_revision(tenant_id)
        log.info(
            "tenant %s added %s asset %s %r (%d bytes, sha256 %s)",
            tenant_id,
            media_type,
            asset.id,
            name,
            blob.size,
            blob.sha256,
        )
        return asset

    def create_playlist(self, *, tenant_id: str, playlist: NewPlaylist) -> PlaylistCreated:
        """Store a playlist whose items all name assets of the tenant."""
        asset_ids = sorted({item.asset_id for item in playlist.items})
        created = PlaylistCreated(id=new_id("pl"), name=playlist.name)
        with self._db.write():
            media_types = self._media_types(tenant_id, asset_ids)
            missing = [asset_id for asset_id in asset_ids if asset_id not in media_types]
            if missing:
                more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
                raise Unprocessable(
                    f"no asset {', '.join(missing[:3])}{more} in this tenant: "
                    "upload it first with `signage-cloud asset add`"
                )
            self._db.insert(
                "playlists",
                {
                    "id": created.id,
                    "tenant_id": tenant_id,
                    "name": created.name,
                    "created_at": utc_now_iso(),
                },
            )
            rows = [
                (
                    tenant_id,
                    created.id,
                    position,
                    item.asset_id,
                    item_duration_ms(item, media_types[item.asset_id]),
                )
                for position, item in enumerate(playlist.items)
            ]
            self._db.insert_many(
                "playlist_items",
                ("tenant_id", "playlist_id", "position", "asset_id", "duration_ms"),
                rows,
            )
            self._db.bump_revision(tenant_id)
        log.info(
            "tenant %s created playlist %s %r with %d items",
            tenant_id,
            created.id,
            created.name,
            len(playlist.items),
        )
        return created

    def _media_types(self, tenant_id: str, asset_ids: list[str]) -> dict[str, str]:
        """{asset id: media type} of those of `asset_ids` that the tenant has."""
        found: dict[str, str] = {}
        for start in range(0, len(asset_ids), _IDS_PER_QUERY):
            chunk = asset_ids[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            for row in self._db.all(
                f"SELECT id, media_type FROM assets WHERE tenant_id = ? AND id IN ({marks})",  # noqa: S608 - only placeholders
                (tenant_id, *chunk),
            ):
                found[row["id"]] = row["media_type"]
        return found

    def blob_of_tenant(self, *, tenant_id: str, sha256: str) -> tuple[str, str]:
        """(sha256, Content-Type) of a blob that one of the tenant's assets names."""
        row = self._db.one(
            "SELECT sha256, content_type FROM assets WHERE tenant_id = ? AND sha256 = ?"
            " ORDER BY created_at LIMIT 1",
            (tenant_id, sha256),
        )
        if row is None:
            raise NotFound(f"no asset with sha256 {sha256} for this device")
        return row["sha256"], row["content_type"]


__all__ = ["Content", "classify_media", "item_duration_ms"]
