"""The admin API's uploads and playlists, the activation page, the OpenAPI document, restarts."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import httpx

from cloud.store import MIGRATIONS
from sync.models import StatePage
from tests.cloud.screen import PNG_1X1, VIDEO_BYTES, Screen, oauth_error, upload
from tests.support.cloud import RunningCloud, running_cloud


def test_an_upload_is_stored_by_its_sha256_and_typed_by_header_or_name(
    cloud: RunningCloud,
) -> None:
    with cloud.admin() as admin:
        by_header = upload(admin, "clip", VIDEO_BYTES, "video/mp4")
        by_name = upload(admin, "logo.png", PNG_1X1, "application/octet-stream")
        same_bytes = upload(admin, "clip-again.mp4", VIDEO_BYTES)
    assert (by_header["media_type"], by_header["size"]) == ("video", len(VIDEO_BYTES))
    assert by_name["media_type"] == "image"
    assert same_bytes["id"] != by_header["id"]
    sha256 = hashlib.sha256(VIDEO_BYTES).hexdigest()
    blob = cloud.data_dir / "blobs" / sha256[:2] / sha256
    assert blob.read_bytes() == VIDEO_BYTES
    assert not list((cloud.data_dir / "blobs" / ".incoming").iterdir())


def test_an_upload_that_is_not_media_or_is_empty_is_refused(cloud: RunningCloud) -> None:
    with cloud.admin() as admin:
        text = admin.post(
            "/api/v3/admin/assets",
            params={"name": "notes.txt"},
            content=b"hello",
            headers={"Content-Type": "text/plain"},
        )
        assert text.status_code == 415
        assert "upload a video or an image" in text.json()["detail"]
        unknown = admin.post("/api/v3/admin/assets", params={"name": "blob"}, content=b"x")
        assert unknown.status_code == 415
        empty = admin.post(
            "/api/v3/admin/assets",
            params={"name": "a.png"},
            content=b"",
            headers={"Content-Type": "image/png"},
        )
        assert empty.status_code == 422
        assert "empty" in empty.json()["detail"]
    assert not list((cloud.data_dir / "blobs" / ".incoming").iterdir())


def test_a_playlist_naming_an_unknown_asset_is_refused_by_name(cloud: RunningCloud) -> None:
    with cloud.admin() as admin:
        response = admin.post(
            "/api/v3/admin/playlists",
            json={"name": "Bad", "items": [{"asset_id": "ast_missing"}]},
        )
        assert response.status_code == 422
        assert "ast_missing" in response.json()["detail"]
        no_items = admin.post("/api/v3/admin/playlists", json={"name": "Empty", "items": []})
        assert no_items.status_code == 422


def test_the_openapi_document_is_built_from_the_wire_models(cloud: RunningCloud) -> None:
    with httpx.Client(base_url=cloud.url) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for model in ("DeviceAuthorization", "TokenResponse", "OAuthError", "StatePage", "Change"):
        assert model in schemas
    assert set(schemas["StatePage"]["properties"]) == set(StatePage.model_fields)
    state = document["paths"]["/api/v3/device/state"]["get"]
    assert {"200", "204", "410"} <= set(state["responses"])
    query = {p["name"] for p in state["parameters"] if p["in"] == "query"}
    assert query == {"cursor", "wait", "limit"}
    paths = document["paths"]
    assert (
        "application/x-www-form-urlencoded"
        in (paths["/api/v3/device/token"]["post"]["requestBody"]["content"])
    )
    assert "/api/v3/device/blobs/{sha256}" in paths


def test_a_restarted_cloud_keeps_its_data_and_honours_the_tokens_it_issued(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "cloud"
    with running_cloud(data_dir) as cloud, Screen(cloud.url) as screen:
        screen.enroll(cloud)
    assert stat.S_IMODE((data_dir / "signing-key.pem").stat().st_mode) == 0o600

    with running_cloud(data_dir) as restarted, Screen(restarted.url, screen.key) as same:
        same.tokens = screen.tokens
        same.nonce = screen.nonce
        # A nonce from before the restart is refused, so no old proof can be replayed...
        stale = same.raw(
            "GET",
            "/api/v3/device/state",
            headers={
                "Authorization": f"DPoP {same.access_token}",
                "DPoP": same.proof("GET", "/api/v3/device/state", access_token=same.access_token),
            },
        )
        assert oauth_error(stale) == "use_dpop_nonce"
        # ...and with the new nonce the old token works.
        held, _ = same.listing()
        assert held["device", same.device_id].data["name"] == "Lobby"
    with closing(sqlite3.connect(data_dir / "cloud.db")) as db:
        migrations = db.execute("SELECT name FROM _migrations").fetchall()
    assert migrations == [(name,) for name, _ in MIGRATIONS]
