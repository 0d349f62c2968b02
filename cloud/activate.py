"""The page where an installer types the code a screen shows: `GET/POST /activate`.

It is the `verification_uri` of RFC 8628. The installer gives the code, a name for the
screen and the tenant's admin key; the page approves the enrollment exactly as
`POST /api/v3/admin/enrollments/{code}/approve` would. The admin key is typed each time
(never kept in a cookie), so another site cannot make a browser approve anything.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from cloud.access import client_address
from cloud.errors import ApiError, Unprocessable
from cloud.services import Services, ServicesDep
from sync.models import ApprovedDevice, Name, Role

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Activate a screen - signage-cloud</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }}
label {{ display: block; margin-top: 1rem; }}
input {{ width: 100%; padding: .5rem; font-size: 1.1rem; box-sizing: border-box; }}
#user_code {{ text-transform: uppercase; letter-spacing: .2em; }}
button {{ margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1.1rem; }}
.error {{ color: #a40000; }} .ok {{ color: #006400; }}
</style></head>
<body><h1>Activate a screen</h1>
{message}
<form method="post" action="/activate">
<label for="user_code">Code shown on the screen</label>
<input id="user_code" name="user_code" value="{user_code}" placeholder="KXRT-9MBD"
 autocomplete="off" required>
<label for="name">Name of the screen</label>
<input id="name" name="name" value="{name}" placeholder="Lobby, left of the door" required>
<label for="admin_key">Admin key</label>
<input id="admin_key" name="admin_key" type="password" autocomplete="off" required>
<button type="submit">Activate</button>
</form></body></html>
"""


def render_page(*, user_code: str = "", name: str = "", message: str = "") -> str:
    return _PAGE.format(user_code=html.escape(user_code), name=html.escape(name), message=message)


_NAME = TypeAdapter(Name)

router = APIRouter(tags=["installer"])


def _approve(
    services: Services, user_code: str, name: str, admin_key: str, address: str
) -> ApprovedDevice:
    """What the approve call does, for the form (in a worker thread: it queries the database).

    The same key checks, lockout and limits of failed approvals as the API's."""
    try:
        name = _NAME.validate_python(name)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise Unprocessable(f"the name: {problem.removeprefix('Value error, ')}") from None
    caller = services.guard.authenticate(f"Bearer {admin_key}", address=address)
    services.guard.check_role(caller, Role.INSTALLER)
    return services.guard.approve(
        caller,
        enrollments=services.enrollments,
        typed_code=user_code,
        name=name,
        now=services.clock(),
    )


@router.get("/activate", response_class=HTMLResponse, summary="The code entry page")
async def activate_page(user_code: str = "") -> HTMLResponse:
    return HTMLResponse(render_page(user_code=user_code))


@router.post("/activate", response_class=HTMLResponse, summary="Approve a code from the form")
async def activate(request: Request, services: ServicesDep) -> HTMLResponse:
    fields = parse_qs((await request.body()).decode(errors="replace"))
    user_code = fields.get("user_code", [""])[0].strip()
    name = fields.get("name", [""])[0].strip()
    admin_key = fields.get("admin_key", [""])[0].strip()
    if not (user_code and name and admin_key):
        message = '<p class="error">Fill in the code, a name and the admin key.</p>'
        return HTMLResponse(render_page(user_code=user_code, name=name, message=message), 400)
    try:
        approved = await run_in_threadpool(
            _approve, services, user_code, name, admin_key, client_address(request)
        )
    except ApiError as exc:
        message = f'<p class="error">{html.escape(exc.detail)}</p>'
        return HTMLResponse(
            render_page(user_code=user_code, name=name, message=message),
            exc.status_code,
            headers=exc.headers,
        )
    message = (
        f'<p class="ok">Screen <b>{html.escape(approved.name)}</b> is activated '
        f"(device {html.escape(approved.device_id)}). It starts within seconds.</p>"
    )
    return HTMLResponse(render_page(message=message))


__all__ = ["render_page", "router"]
