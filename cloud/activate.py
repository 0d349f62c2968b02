"""The page where an installer types the code a screen shows: `GET/POST /activate`.

It is the `verification_uri` of RFC 8628 (the QR code on the screen opens it with
`?user_code=`). Three steps, each a POST of the same form:

    sign in + code ──▶ confirm: the code, what the device said it is, a name ──▶ activated
    (step=check)        (step=approve)

The installer (or admin) key is typed once per browser session. The browser keeps only an
opaque session id (cookie `activate_session`: HttpOnly, SameSite=Strict, Path=/activate,
Secure over https); the key stays in this process's memory (`ActivateSessions`) and is
checked again on every POST, so a revoked key stops working at once and the API's lockout
and limits apply. Every form carries a CSRF token: bound to the session once signed in,
before that a double-submit token (cookie `activate_csrf` equal to the form's field).
A code looked up for the confirm step counts as an approval for the limits (`Guard.look_up`).
A restart of the cloud forgets the sessions: the installer types the key again.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from cloud.access import Caller, client_address
from cloud.enrollment import WaitingScreen, display_user_code, normalize_user_code
from cloud.errors import (
    AdminUnauthorized,
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    TooManyRequests,
    Unprocessable,
)
from cloud.services import Services, ServicesDep
from sync.models import ApprovedDevice, Name, Role

SESSION_COOKIE = "activate_session"
CSRF_COOKIE = "activate_csrf"
COOKIE_PATH = "/activate"
SESSION_IDLE_S = 30 * 60  # a session unused this long is forgotten
MAX_SESSIONS = 10_000  # the oldest is forgotten first; only a valid key makes one

NEXT_STEP = (
    "The screen shows \u201cNo content yet\u201d within a few seconds; "
    "an editor assigns it a playlist in the admin portal."
)

_NAME = TypeAdapter(Name)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ActivateSession:
    key: str
    csrf: str
    last_used: float


@dataclass
class ActivateSessions:
    """Signed-in browsers: SHA-256 of the session id → the key, in memory, bounded."""

    clock: Callable[[], float] = time.monotonic
    _sessions: OrderedDict[str, ActivateSession] = field(default_factory=OrderedDict)
    _lock: Lock = field(default_factory=Lock)

    def start(self, key: str) -> tuple[str, ActivateSession]:
        """A new session for `key`: (the id for the cookie, the session)."""
        session_id = secrets.token_urlsafe(32)
        session = ActivateSession(key=key, csrf=secrets.token_urlsafe(32), last_used=self.clock())
        with self._lock:
            self._sessions[_sha256(session_id)] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> ActivateSession | None:
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            digest = _sha256(session_id)
            session = self._sessions.get(digest)
            if session is None:
                return None
            if now - session.last_used > SESSION_IDLE_S:
                del self._sessions[digest]
                return None
            session.last_used = now
            self._sessions.move_to_end(digest)
            return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_sha256(session_id), None)


async def activate_sessions(request: Request) -> ActivateSessions:
    """The sessions of the app serving `request` (made on first use, kept on `app.state`)."""
    state = request.app.state
    if not hasattr(state, "activate_sessions"):
        state.activate_sessions = ActivateSessions()
    sessions: ActivateSessions = state.activate_sessions
    return sessions


SessionsDep = Annotated[ActivateSessions, Depends(activate_sessions)]

# --- the page -------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Activate a screen - signage-cloud</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 30rem; margin: 3rem auto; padding: 0 1rem; }}
label {{ display: block; margin-top: 1rem; }}
input {{ width: 100%; padding: .5rem; font-size: 1.1rem; box-sizing: border-box; }}
#user_code {{ text-transform: uppercase; letter-spacing: .2em; }}
button {{ margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1.1rem; }}
.link {{ background: none; border: none; padding: 0; font-size: .9rem; color: #0645ad;
  text-decoration: underline; cursor: pointer; margin: 0; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; }}
dt {{ color: #555; }} dd {{ margin: 0; }} .code {{ font-size: 1.4rem; letter-spacing: .15em; }}
.error {{ color: #a40000; }} .ok {{ color: #006400; }} .muted {{ color: #555; font-size: .9rem; }}
</style></head>
<body><h1>Activate a screen</h1>
{message}
{body}
</body></html>
"""

_CODE_FORM = """<form method="post" action="/activate">
<input type="hidden" name="step" value="check">
<input type="hidden" name="csrf" value="{csrf}">
<label for="user_code">Code shown on the screen</label>
<input id="user_code" name="user_code" value="{user_code}" placeholder="KXRT-9MBD"
 autocomplete="off" required>
{key_field}
<button type="submit" id="continue">Continue</button>
</form>
{sign_out}"""

_KEY_FIELD = """<label for="key">Your installer key</label>
<input id="key" name="key" type="password" autocomplete="off" required>
<p class="muted">Asked once: this browser remembers it until you close it.</p>"""

_CONFIRM_FORM = """<p>Check that this is the screen in front of you, then name it.</p>
<dl>
<dt>Code</dt><dd class="code" id="confirm_code">{user_code}</dd>
<dt>Device</dt><dd id="device">{device}</dd>
<dt>Code valid for</dt><dd>{valid_for}</dd>
</dl>
<form method="post" action="/activate">
<input type="hidden" name="step" value="approve">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="user_code" value="{user_code}">
<label for="name">Name of the screen</label>
<input id="name" name="name" value="{name}" placeholder="Lobby, left of the door" required
 autofocus>
<button type="submit" id="activate">Activate this screen</button>
</form>
<p class="muted"><a href="/activate">Not this screen? Enter another code</a></p>"""

_DONE = """<p class="ok" id="done">Screen <b>{name}</b> is activated.</p>
<p>{next_step}</p>
<p><a href="/activate">Activate another screen</a></p>"""

_SIGN_OUT = """<form method="post" action="/activate">
<input type="hidden" name="step" value="sign_out">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="link">Use another key</button>
</form>"""


def _minutes(seconds: int) -> str:
    if seconds >= 120:
        return f"{seconds // 60} more minutes"
    return f"{seconds} more seconds" if seconds < 60 else "1 more minute"


def _error(text: str) -> str:
    return f'<p class="error" id="error">{html.escape(text)}</p>'


def code_form(*, csrf: str, user_code: str = "", signed_in: bool = False, message: str = "") -> str:
    body = _CODE_FORM.format(
        csrf=html.escape(csrf),
        user_code=html.escape(user_code),
        key_field="" if signed_in else _KEY_FIELD,
        sign_out=_SIGN_OUT.format(csrf=html.escape(csrf)) if signed_in else "",
    )
    return _PAGE.format(message=message, body=body)


def confirm_form(*, csrf: str, waiting: WaitingScreen, name: str = "", message: str = "") -> str:
    body = _CONFIRM_FORM.format(
        csrf=html.escape(csrf),
        user_code=html.escape(waiting.user_code),
        device=html.escape(waiting.description or "(the screen did not say)"),
        valid_for=_minutes(waiting.expires_in_s),
        name=html.escape(name),
    )
    return _PAGE.format(message=message, body=body)


def done_page(approved: ApprovedDevice) -> str:
    body = _DONE.format(name=html.escape(approved.name), next_step=html.escape(NEXT_STEP))
    return _PAGE.format(message="", body=body)


# --- errors, worded for a person in a browser ------------------------------------------


def web_message(exc: ApiError, *, user_code: str, role: Role | None, revoked: bool) -> str:
    """What the page says for an error of the API (whose details name CLI options)."""
    shown = display_user_code(normalize_user_code(user_code))
    match exc:
        case TooManyRequests():
            wait = exc.headers.get("Retry-After", "60") if exc.headers else "60"
            return f"Too many failed attempts. Wait {wait} seconds, then try again."
        case AdminUnauthorized() if revoked:
            return "This key was revoked. Ask an admin of your team for a new one."
        case AdminUnauthorized():
            return (
                "This key is not recognised. Check that you copied all of it "
                "(it starts with sk_), or ask whoever gave it to you."
            )
        case Forbidden():
            what = f"it is {'an' if str(role)[0] in 'aeiou' else 'a'} {role} key" if role else ""
            return (
                f"This key cannot activate screens{': ' + what if what else ''}. "
                "Ask an admin of your team for an installer key."
            )
        case NotFound():
            return (
                f"No screen is waiting with the code {shown}. Check it against the code on "
                "the screen; if the screen shows a new code, enter that one."
            )
        case Conflict() if "denied" in exc.detail:
            return f"The code {shown} was refused. The screen shows a new code: enter that one."
        case Conflict():
            return f"The screen with the code {shown} is already activated: nothing more to do."
        case Gone():
            return f"The code {shown} expired. The screen shows a new code by now: enter that one."
        case Unprocessable():
            return f"Check the name: {exc.detail.removeprefix('the name: ')}."
        case _:
            return "Something went wrong. Try again in a minute."


# --- the steps --------------------------------------------------------------------------


def _signed_in(services: Services, key: str, address: str) -> Caller:
    """The caller of a key, if it may activate screens (runs in a worker thread)."""
    caller = services.guard.authenticate(f"Bearer {key}", address=address)
    services.guard.check_role(caller, Role.INSTALLER)
    return caller


def _check(services: Services, key: str, user_code: str, address: str) -> WaitingScreen:
    caller = _signed_in(services, key, address)
    return services.guard.look_up(
        caller, enrollments=services.enrollments, typed_code=user_code, now=services.clock()
    )


def _approve(
    services: Services, key: str, user_code: str, name: str, address: str
) -> ApprovedDevice:
    try:
        name = _NAME.validate_python(name)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise Unprocessable(f"the name: {problem.removeprefix('Value error, ')}") from None
    caller = _signed_in(services, key, address)
    return services.guard.approve(
        caller,
        enrollments=services.enrollments,
        typed_code=user_code,
        name=name,
        now=services.clock(),
    )


def _key_facts(services: Services, key: str) -> tuple[Role | None, bool]:
    """The role of a key and whether it was revoked, to word an error."""
    row = services.keys.find(key)
    return (row.role, row.revoked) if row is not None else (None, False)


def _secure(request: Request, services: Services) -> bool:
    return request.url.scheme == "https" or services.settings.public_url.startswith("https:")


def _respond(
    request: Request,
    services: Services,
    page: str,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    session_id: str | None = None,
    end_session: bool = False,
    csrf_cookie: str | None = None,
) -> HTMLResponse:
    response = HTMLResponse(page, status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    cookie = {
        "path": COOKIE_PATH,
        "httponly": True,
        "samesite": "strict",
        "secure": _secure(request, services),
    }
    if session_id is not None:
        response.set_cookie(SESSION_COOKIE, session_id, **cookie)  # type: ignore[arg-type]
    if end_session:
        response.delete_cookie(SESSION_COOKIE, **cookie)  # type: ignore[arg-type]
    if csrf_cookie is not None:
        response.set_cookie(CSRF_COOKIE, csrf_cookie, **cookie)  # type: ignore[arg-type]
    return response


router = APIRouter(tags=["installer"])


@router.get("/activate", response_class=HTMLResponse, summary="The code entry page")
async def activate_page(
    request: Request, services: ServicesDep, sessions: SessionsDep, user_code: str = ""
) -> HTMLResponse:
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        page = code_form(csrf=session.csrf, user_code=user_code, signed_in=True)
        return _respond(request, services, page)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    return _respond(request, services, code_form(csrf=csrf, user_code=user_code), csrf_cookie=csrf)


@router.post("/activate", response_class=HTMLResponse, summary="Sign in, check a code, approve it")
async def activate(request: Request, services: ServicesDep, sessions: SessionsDep) -> HTMLResponse:
    fields = {
        name: values[0].strip()
        for name, values in parse_qs((await request.body()).decode(errors="replace")).items()
    }
    step = fields.get("step", "check")
    user_code = fields.get("user_code", "")
    sent_csrf = fields.get("csrf", "")
    session_id = request.cookies.get(SESSION_COOKIE)
    session = sessions.get(session_id)
    address = client_address(request)

    expected = session.csrf if session is not None else request.cookies.get(CSRF_COOKIE, "")
    if not (expected and sent_csrf and hmac.compare_digest(expected, sent_csrf)):
        # An old tab, a cookie the browser dropped, or a form posted from another site.
        csrf = secrets.token_urlsafe(32) if session is None else session.csrf
        message = _error(
            "This page was open too long or was sent from elsewhere. Enter the code again."
        )
        page = code_form(
            csrf=csrf, user_code=user_code, signed_in=session is not None, message=message
        )
        return _respond(request, services, page, 403, csrf_cookie=csrf if session is None else None)

    if step == "sign_out":
        sessions.end(session_id)
        csrf = secrets.token_urlsafe(32)
        page = code_form(csrf=csrf, message='<p class="ok">Signed out.</p>')
        return _respond(request, services, page, end_session=True, csrf_cookie=csrf)

    if session is None and step == "approve":
        csrf = request.cookies.get(CSRF_COOKIE, "")
        message = _error("Your session ended. Enter your key again.")
        return _respond(
            request, services, code_form(csrf=csrf, user_code=user_code, message=message), 401
        )

    key = session.key if session is not None else fields.get("key", "")
    if not user_code or not key:
        message = _error("Enter the code shown on the screen and your installer key.")
        page = code_form(
            csrf=expected, user_code=user_code, signed_in=session is not None, message=message
        )
        return _respond(request, services, page, 400)

    new_session: str | None = None
    if session is None:  # signing in: a key that may activate screens starts a session
        try:
            await run_in_threadpool(_signed_in, services, key, address)
        except ApiError as exc:
            role, revoked = await run_in_threadpool(_key_facts, services, key)
            message = _error(web_message(exc, user_code=user_code, role=role, revoked=revoked))
            page = code_form(csrf=expected, user_code=user_code, message=message)
            return _respond(request, services, page, exc.status_code, headers=exc.headers)
        new_session, session = sessions.start(key)

    def respond(
        page: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> HTMLResponse:
        return _respond(request, services, page, status, headers=headers, session_id=new_session)

    name = fields.get("name", "")
    try:
        if step == "approve":
            approved = await run_in_threadpool(_approve, services, key, user_code, name, address)
        else:
            waiting = await run_in_threadpool(_check, services, key, user_code, address)
    except ApiError as exc:
        role, revoked = await run_in_threadpool(_key_facts, services, key)
        message = _error(web_message(exc, user_code=user_code, role=role, revoked=revoked))
        if isinstance(exc, AdminUnauthorized | Forbidden):
            sessions.end(session_id)  # revoked since, or its role changed: sign in again
            csrf = secrets.token_urlsafe(32)
            page = code_form(csrf=csrf, user_code=user_code, message=message)
            return _respond(
                request,
                services,
                page,
                exc.status_code,
                headers=exc.headers,
                end_session=True,
                csrf_cookie=csrf,
            )
        if step == "approve" and isinstance(exc, Unprocessable):
            try:  # the confirm step again, the code counted as any look-up is
                waiting = await run_in_threadpool(_check, services, key, user_code, address)
            except ApiError:
                pass
            else:
                page = confirm_form(csrf=session.csrf, waiting=waiting, name=name, message=message)
                return respond(page, exc.status_code)
        page = code_form(csrf=session.csrf, user_code=user_code, signed_in=True, message=message)
        return respond(page, exc.status_code, exc.headers)

    if step == "approve":
        return respond(done_page(approved))
    return respond(confirm_form(csrf=session.csrf, waiting=waiting))


__all__ = [
    "NEXT_STEP",
    "ActivateSessions",
    "code_form",
    "confirm_form",
    "done_page",
    "router",
    "web_message",
]
