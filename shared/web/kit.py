"""The web kit every service mounts: layout, sign-in, sessions, CSRF, language, headers.

A service builds one `WebKit` with its own template folder, navigation and audit hook,
calls `kit.mount(app)`, and writes its pages as ordinary FastAPI routes that take
`SignedIn` (the person, as a `Principal` for the service layer) and, for forms,
`CheckedForm` (the submitted form, CSRF-checked), and answer with `render(...)`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import Session
from starlette.datastructures import FormData, MutableHeaders
from starlette.types import Scope

from shared.kit.http import AddResponseHeaders
from shared.kit.logging import get_logger
from shared.protocol.auth import Principal, SessionDep
from shared.web import i18n
from shared.web.people import (
    Authenticator,
    PasswordAuthenticator,
    Person,
    SignInRefused,
    WebSession,
    change_password,
    end_other_sessions,
    end_session,
    session_of,
    start_session,
)

log = get_logger(__name__)

PREFIX = "/console"
STATIC = f"{PREFIX}/static"
SESSION_COOKIE = "enlace_session"
PRESESSION_COOKIE = "enlace_presession"  # CSRF token of forms shown before signing in
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI sets styles from its script and draws icons as data: images.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

# (session, event type, person, detail): write an audit entry in the request's transaction.
AuditHook = Callable[[Session, str, Person, dict[str, Any]], None]


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # a catalog message id (mark it with N_)
    roles: frozenset[str]


@dataclass
class WebKit:
    title: str
    template_dirs: list[Path] = field(default_factory=list)
    nav: list[NavItem] = field(default_factory=list)
    audit: AuditHook | None = None
    # Called after a response whose transaction wrote to an outbox (e.g. wake a publisher).
    after_write: Callable[[Request], None] | None = None
    authenticator: Authenticator = field(default_factory=PasswordAuthenticator)
    home: str = f"{PREFIX}/"

    def __post_init__(self) -> None:
        dirs = [*self.template_dirs, Path(__file__).parent / "templates"]
        self.templates = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(d)) for d in dirs]),
            autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
        )

    def mount(self, app: FastAPI) -> None:
        app.state.web_kit = self
        app.mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="static")
        app.include_router(_router)
        app.add_exception_handler(SignInRequired, _to_sign_in)  # type: ignore[arg-type]
        app.add_exception_handler(CsrfRejected, _csrf_rejected)  # type: ignore[arg-type]
        app.add_middleware(AddResponseHeaders, add=_security_headers)

        @app.get("/", include_in_schema=False)
        def _root() -> RedirectResponse:
            return RedirectResponse(self.home, status_code=303)

    def notify(self, request: Request) -> None:
        if self.after_write is not None:
            self.after_write(request)


def kit_of(request: Request) -> WebKit:
    kit: WebKit = request.app.state.web_kit
    return kit


# Who is asking -----------------------------------------------------------------------------


@dataclass
class Visitor:
    """A browser: its language, and once signed in, its person and session."""

    language: str
    person: Person | None = None
    web_session: WebSession | None = None
    presession: str = ""

    @property
    def principal(self) -> Principal:
        assert self.person is not None
        return self.person.principal()

    @property
    def zone(self) -> ZoneInfo:
        if self.person is None:
            return ZoneInfo("UTC")
        return i18n.time_zone_for(self.person.time_zone, self.person.country)

    @property
    def csrf_token(self) -> str:
        return self.web_session.csrf_token if self.web_session else self.presession

    def gettext(self, message: str, **values: Any) -> str:
        if not message:
            return ""
        text = str(i18n.translations(self.language).gettext(message))
        return text % values if values else text

    def options(self, vocabulary: str, only: Any = None) -> list[tuple[str, str]]:
        """A vocabulary's (value, label) pairs for a select or checkboxes, in its order;
        `only`: just these values."""
        kept = None if only is None else {str(v) for v in only}
        return [(value, self.gettext(message))
                for value, message in i18n.VOCABULARY[vocabulary].items()
                if kept is None or value in kept]


class SignInRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


def visitor(request: Request, session: SessionDep) -> Visitor:
    language = i18n.choose_language(request.cookies.get(i18n.LANGUAGE_COOKIE),
                                    request.headers.get("Accept-Language"))
    found = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        # htmx's periodic refreshes are not the person's doing: an unattended screen still
        # signs out after the idle time.
        found = session_of(session, token, touch="HX-Request" not in request.headers)
    presession = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(32)
    if found is None:
        return Visitor(language, presession=presession)
    web_session, person = found
    return Visitor(language, person, web_session, presession)


AnyVisitor = Annotated[Visitor, Depends(visitor)]


def signed_in(request: Request, visitor: AnyVisitor) -> Visitor:
    if visitor.person is None:
        raise SignInRequired
    return visitor


SignedIn = Annotated[Visitor, Depends(signed_in)]


async def checked_form(request: Request, visitor: AnyVisitor) -> FormData:
    """The submitted form, after checking its CSRF token against the session's."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if visitor.web_session is not None:
        expected = visitor.web_session.csrf_token
    else:
        expected = request.cookies.get(PRESESSION_COOKIE, "")
    if not expected or not secrets.compare_digest(sent, expected):
        raise CsrfRejected
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


# Answers -----------------------------------------------------------------------------------


def render(request: Request, visitor: Visitor, template: str, status: int = 200,
           **context: Any) -> HTMLResponse:
    kit = kit_of(request)
    language = visitor.language
    person = visitor.person

    def when(moment: Any) -> str:
        return i18n.format_moment(moment, language, visitor.zone)

    def label(vocabulary: str, value: str) -> str:
        return i18n.label(language, vocabulary, value)

    nav = [item for item in kit.nav if person is not None and person.role in item.roles]
    html = kit.templates.get_template(template).render(
        request=request, visitor=visitor, person=person, lang=language, _=visitor.gettext,
        when=when, ago=lambda moment: i18n.format_age(moment, language), label=label,
        csrf_field=Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, visitor.csrf_token),
        csrf_token=visitor.csrf_token, nav=nav, kit=kit, static=STATIC, prefix=PREFIX,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if visitor.web_session is None and request.cookies.get(PRESESSION_COOKIE) != visitor.presession:
        _set_cookie(request, response, PRESESSION_COOKIE, visitor.presession, max_age=None)
    return response


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _secure(request: Request) -> bool:
    """Secure cookies everywhere except plain http on this machine (development)."""
    return not (request.url.scheme == "http" and request.url.hostname in LOOPBACK)


def _set_cookie(request: Request, response: Response, name: str, value: str,
                max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=_secure(request))


def _safe_next(target: str | None, default: str) -> str:
    """Only a path of this site: never another origin (an open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


async def _to_sign_in(request: Request, _: SignInRequired) -> Response:
    target = f"{PREFIX}/sign-in?next={quote(request.url.path)}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return see_other(target)


async def _csrf_rejected(request: Request, _: CsrfRejected) -> Response:
    with_session = Visitor(i18n.choose_language(request.cookies.get(i18n.LANGUAGE_COOKIE),
                                                request.headers.get("Accept-Language")),
                           presession=request.cookies.get(PRESESSION_COOKIE) or "")
    return render(request, with_session, "error.html", status=403,
                  message=with_session.gettext(
                      "This form has expired. Go back, reload the page and try again."))


def _security_headers(scope: Scope, headers: MutableHeaders) -> None:
    path = scope["path"]
    docs = path.startswith(("/docs", "/openapi.json"))
    headers["Content-Security-Policy"] = (
        DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    if not path.startswith(("/console/static", "/docs/static")):
        headers["Cache-Control"] = "no-store"


# Signing in and out, the account, the language ---------------------------------------------

_router = APIRouter(prefix=PREFIX, include_in_schema=False)

SIGN_IN_MESSAGES = {
    "bad_credentials": i18n.N_("Wrong username or password."),
    "locked": i18n.N_("Too many failed attempts. Wait %(seconds)s seconds and try again."),
}
PASSWORD_MESSAGES = {
    "wrong_current_password": i18n.N_("The current password is not right."),
    "password_too_short": i18n.N_("The new password needs at least 12 characters."),
    "passwords_differ": i18n.N_("The two new passwords are not the same."),
}


@_router.get("/sign-in")
def sign_in_page(request: Request, visitor: AnyVisitor, next: str | None = None) -> Response:
    if visitor.person is not None:
        return see_other(_safe_next(next, kit_of(request).home))
    return render(request, visitor, "sign_in.html", next=_safe_next(next, ""), error=None)


@_router.post("/sign-in")
def sign_in(request: Request, visitor: AnyVisitor, form: CheckedForm, session: SessionDep,
            background: BackgroundTasks) -> Response:
    kit = kit_of(request)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""), kit.home)
    try:
        person = kit.authenticator.verify(session, username, password)
    except SignInRefused as refused:
        if refused.person is not None and kit.audit is not None:
            kit.audit(session, "sign-in-failed", refused.person,
                      {"reason": refused.reason})
            background.add_task(kit.notify, request)
        log.info("sign_in_refused", reason=refused.reason)
        error = visitor.gettext(SIGN_IN_MESSAGES[refused.reason],
                                seconds=refused.retry_after or 0)
        status = 429 if refused.reason == "locked" else 401
        response: Response = render(request, visitor, "sign_in.html", status=status,
                                    next=target, error=error)
        if refused.retry_after:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response
    token, _web_session = start_session(session, person)
    if kit.audit is not None:
        kit.audit(session, "sign-in", person, {})
        background.add_task(kit.notify, request)
    log.info("signed_in", person_id=person.id)
    response = see_other(target)
    _set_cookie(request, response, SESSION_COOKIE, token, max_age=None)
    response.delete_cookie(PRESESSION_COOKIE, path="/")
    return response


@_router.post("/sign-out")
def sign_out(request: Request, visitor: SignedIn, form: CheckedForm,
             session: SessionDep) -> Response:
    end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = see_other(f"{PREFIX}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@_router.get("/account")
def account_page(request: Request, visitor: SignedIn) -> Response:
    return _account(request, visitor)


def _account(request: Request, visitor: Visitor, status: int = 200, error: str | None = None,
             done: str | None = None) -> HTMLResponse:
    return render(request, visitor, "account.html", status=status, error=error, done=done,
                  zones=i18n.time_zone_choices(),
                  zone_now=visitor.zone.key)


@_router.post("/account/password")
def password_change(request: Request, visitor: SignedIn, form: CheckedForm,
                    session: SessionDep, background: BackgroundTasks) -> Response:
    assert visitor.person is not None and visitor.web_session is not None
    new = str(form.get("new_password") or "")
    try:
        if new != str(form.get("new_password_again") or ""):
            raise ValueError("passwords_differ")
        change_password(session, visitor.person, str(form.get("current_password") or ""), new)
    except ValueError as refused:
        error = visitor.gettext(PASSWORD_MESSAGES[str(refused)])
        return _account(request, visitor, status=422, error=error)
    end_other_sessions(session, visitor.person, visitor.web_session)
    kit = kit_of(request)
    if kit.audit is not None:
        kit.audit(session, "password-changed", visitor.person, {})
        background.add_task(kit.notify, request)
    return _account(request, visitor, done=visitor.gettext("Your password has been changed."))


@_router.post("/account/time-zone")
def time_zone_change(request: Request, visitor: SignedIn, form: CheckedForm,
                     session: SessionDep) -> Response:
    assert visitor.person is not None
    zone = str(form.get("time_zone") or "")
    if zone not in i18n.time_zone_choices():
        return _account(request, visitor, status=422,
                        error=visitor.gettext("Choose a time zone from the list."))
    visitor.person.time_zone = zone
    session.add(visitor.person)
    return see_other(f"{PREFIX}/account")


@_router.post("/language")
def language_change(request: Request, visitor: AnyVisitor, form: CheckedForm) -> Response:
    language = str(form.get("language") or "")
    response = see_other(_safe_next(str(form.get("next") or ""), kit_of(request).home))
    if language in i18n.LANGUAGES:
        _set_cookie(request, response, i18n.LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
    return response
