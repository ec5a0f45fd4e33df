"""Directory HTTP API.

(No `from __future__ import annotations` here: the entry routes are built by a function,
and FastAPI must see their body types as objects, not as names to resolve.)
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from services.directory import transfer
from services.directory.schemas import (
    JWKS,
    AreaData,
    AreaPage,
    AreaPublic,
    AreaUpdate,
    Competence,
    CountryData,
    CountryPage,
    CountryPublic,
    CredentialsRevoked,
    FocalPointData,
    FocalPointPage,
    FocalPointPublic,
    FocalPointUpdate,
    GatewayCredentials,
    History,
    ImportResult,
    InstitutionData,
    InstitutionPage,
    InstitutionPublic,
    InstitutionType,
    InstitutionUpdate,
    Introspection,
    IntrospectionRequest,
    KeyPage,
    KeyPublic,
    LookupAnswer,
    PublicKeyIn,
    Revocation,
)
from services.directory.service import (
    AREAS,
    EDITABLE,
    FOCAL_POINTS,
    INSTITUTIONS,
    DirectoryService,
    Kind,
)
from services.directory.snapshot import sign_snapshot
from shared.kit.limits import NonNegativeInt32
from shared.kit.pagination import PageRequest, Pages, pagination
from shared.kit.problems import problem_responses
from shared.protocol.acting import Caller
from shared.protocol.auth import Role, SessionDep, require_role

router = APIRouter(prefix="/v1", tags=["directory"], responses=problem_responses(401, 403, 422))


def directory(session: SessionDep) -> DirectoryService:
    """The service of one request (the session commits before the response is sent)."""
    return DirectoryService(session)


Service = Annotated[DirectoryService, Depends(directory)]
EntryKind = Literal["areas", "institutions", "focal-points"]
SearchPages = Annotated[PageRequest, pagination(20, 100)]
Code = Annotated[str | None, Query(max_length=64)]
Text = Annotated[str | None, Query(max_length=200, description="Words to find, in any case "
                                                                "and with or without accents")]


@router.get("/countries", response_model=CountryPage, operation_id="countries_list")
def list_countries(service: Service, _: Caller, pages: Pages) -> CountryPage:
    """Countries known to the directory (CRM members and observers), by code."""
    rows, next_link = pages.slice(service.countries(), lambda c: (c.code,), str)
    return CountryPage(items=[CountryPublic.model_validate(c) for c in rows], next=next_link)


@router.post("/countries", response_model=CountryPublic, status_code=201,
             operation_id="countries_create")
def create_country(body: CountryData, service: Service,
                   principal: Caller) -> CountryPublic:
    """Add a member or observer country (regional administrators; `409` if the code is
    taken)."""
    return CountryPublic.model_validate(service.create_country(principal, body))


@router.get("/areas", response_model=AreaPage, operation_id="areas_list")
def list_areas(service: Service, _: Caller, pages: Pages, country: Code = None,
               q: Text = None) -> AreaPage:
    """Administrative areas by id, optionally of one country or matching words."""
    rows, next_link = pages.slice(service.areas(country, q), lambda a: (a.id,), str)
    return AreaPage(items=[AreaPublic.model_validate(a) for a in rows], next=next_link)


@router.get("/institutions", response_model=InstitutionPage, operation_id="institutions_list")
def search_institutions(
    service: Service, _: Caller, pages: SearchPages, q: Text = None, country: Code = None,
    type: InstitutionType | None = None, competence: Competence | None = None,
    language: Code = None,
    area: Annotated[str | None, Query(max_length=64, description="Institutions covering this "
                                      "area: by name, by a containing area, or nationally")
                    ] = None,
    include_inactive: bool = False,
) -> InstitutionPage:
    """Search institutions; pages are in a stable order (country, name, id)."""
    after = pages.after(str)
    rows, total = service.search_institutions(
        q=q, country=country, type=type, competence=competence, language=language, area=area,
        include_inactive=include_inactive, limit=pages.fetch, after_id=after[0] if after else None,
    )
    items, next_link = pages.page(rows, lambda i: (i.id,))
    return InstitutionPage(items=items, next=next_link, total=total)


@router.get("/focal-points/lookup", response_model=LookupAnswer,
            operation_id="focal_points_lookup")
def lookup_focal_points(
    service: Service, _: Caller,
    country: Annotated[str, Query(max_length=2, description="Whose focal points (ISO 3166-1)")],
    topic: Competence,
    area: Annotated[str | None, Query(max_length=64, description="Where: an area id")] = None,
    language: Code = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> LookupAnswer:
    """Who do I call? Focal points ranked most specific first: the area, the areas containing
    it, then national ones; 24/7 ones first at each level."""
    return service.lookup(country, topic, area, language, limit)


@router.get("/focal-points", response_model=FocalPointPage, operation_id="focal_points_list")
def search_focal_points(
    service: Service, _: Caller, pages: SearchPages, q: Text = None, country: Code = None,
    institution_id: Code = None, topic: Competence | None = None, language: Code = None,
    area: Code = None, include_inactive: bool = False,
) -> FocalPointPage:
    """Search focal points; pages are in a stable order (country, name, id)."""
    after = pages.after(str)
    rows, total = service.search_focal_points(
        q=q, country=country, institution_id=institution_id, topic=topic, language=language,
        area=area, include_inactive=include_inactive, limit=pages.fetch,
        after_id=after[0] if after else None,
    )
    items, next_link = pages.page(rows, lambda f: (f.id,))
    return FocalPointPage(items=items, next=next_link, total=total)


def entry_routes(path: str, kind: Kind, data_model: type[BaseModel],
                 update_model: type[BaseModel], public_model: type[BaseModel]) -> None:
    """Create, read, update (and deactivate) and history of one kind of entry."""
    noun = kind.entity.replace("_", " ")
    a_noun = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"

    def create(body: data_model, service: Service,  # type: ignore[valid-type]
               principal: Caller) -> Any:
        return public_model.model_validate(service.create(principal, kind, body))

    def read(entry_id: str, service: Service, _: Caller) -> Any:
        return public_model.model_validate(service.get(kind, entry_id))

    def update(entry_id: str, body: update_model, service: Service,  # type: ignore[valid-type]
               principal: Caller) -> Any:
        return public_model.model_validate(service.update(principal, kind, entry_id, body))

    def history(entry_id: str, service: Service, principal: Caller, pages: Pages) -> History:
        require_role(principal, Role.country_admin, Role.regional_admin, Role.auditor)
        rows, next_link = pages.slice(service.history(kind, entry_id), lambda c: (c.seq,), int)
        return History(items=rows, next=next_link)

    things = path.strip("/").replace("-", "_")
    routes: list[tuple[str, str, Callable[..., Any], Any, int, str, str]] = [
        ("POST", path, create, public_model, 201, "create",
         f"Create {a_noun} (country administrators: their own country)."),
        ("GET", f"{path}/{{entry_id}}", read, public_model, 200, "get", f"One {noun}."),
        ("PATCH", f"{path}/{{entry_id}}", update, public_model, 200, "update",
         f'Change {a_noun}: only the fields sent. {{"active": false}} deactivates it; '
         "nothing is ever deleted."),
        ("GET", f"{path}/{{entry_id}}/history", history, History, 200, "history_list",
         f"Every change to the {noun}, oldest first: who, when, what (administrators and "
         "auditors)."),
    ]
    for method, route, endpoint, model, status, verb, doc in routes:
        endpoint.__doc__ = doc
        router.add_api_route(route, endpoint, methods=[method], response_model=model,
                             status_code=status, name=f"{endpoint.__name__}_{kind.entity}",
                             operation_id=f"{things}_{verb}")


entry_routes("/areas", AREAS, AreaData, AreaUpdate, AreaPublic)
entry_routes("/institutions", INSTITUTIONS, InstitutionData, InstitutionUpdate,
             InstitutionPublic)
entry_routes("/focal-points", FOCAL_POINTS, FocalPointData, FocalPointUpdate, FocalPointPublic)


# Keys ------------------------------------------------------------------------------------


@router.get("/institutions/{institution_id}/jwks", response_model=JWKS,
            operation_id="institutions_jwks_get")
def get_jwks(institution_id: str, service: Service) -> JWKS:
    """The institution's current public keys, signing and encryption (public: anyone may
    verify or encrypt)."""
    return JWKS(keys=service.jwks(institution_id))


@router.get("/institutions/{institution_id}/keys", response_model=KeyPage,
            operation_id="institutions_keys_list")
def list_keys(institution_id: str, service: Service, _: Caller, pages: Pages) -> KeyPage:
    """Every key the institution has had, oldest first, with validity and revocation."""
    rows, next_link = pages.slice(service.keys(institution_id),
                                  lambda k: (k.valid_from, k.kid), datetime, str)
    return KeyPage(items=[KeyPublic.model_validate(k) for k in rows], next=next_link)


@router.post("/institutions/{institution_id}/keys", status_code=201,
             operation_id="institutions_keys_register")
def register_key(institution_id: str, body: PublicKeyIn, service: Service,
                 principal: Caller) -> dict[str, Any]:
    """A gateway registers the public half of a key it holds for one of its institutions:
    Ed25519 for signing, X25519 for encryption."""
    return service.register_key(principal, institution_id, body)


@router.post("/institutions/{institution_id}/keys/{kid}/revocation", response_model=KeyPublic,
             operation_id="institutions_keys_revoke")
def revoke_key(institution_id: str, kid: str, body: Revocation, service: Service,
               principal: Caller) -> KeyPublic:
    """Revoke a key, with the reason (its gateway, its country's or a regional administrator).
    Gateways stop accepting it as soon as they hold a snapshot that says so."""
    return KeyPublic.model_validate(service.revoke_key(principal, institution_id, kid,
                                                       body.reason))


# Joining: a gateway's credentials, and introspection for the registry --------------------


@router.post("/institutions/{institution_id}/credentials", response_model=GatewayCredentials,
             status_code=201, operation_id="institutions_credentials_issue")
def issue_credentials(institution_id: str, request: Request, response: Response,
                      service: Service, principal: Caller) -> GatewayCredentials:
    """Issue the credentials of the institution's gateway (regional administrators): a bearer
    token (role `gateway`) valid at the directory and the registry, and the NATS credentials
    of its gateway country. Shown once; issuing again revokes the previous token."""
    response.headers["Cache-Control"] = "no-store"  # secrets: no cache keeps a copy
    return service.issue_credentials(principal, institution_id, request.app.state.nats_issuer)


@router.post("/institutions/{institution_id}/credentials/revocation",
             response_model=CredentialsRevoked, operation_id="institutions_credentials_revoke")
def revoke_credentials(institution_id: str, service: Service,
                       principal: Caller) -> CredentialsRevoked:
    """Revoke the institution's gateway token (regional administrators). The directory
    refuses it at once, the registry within ENLACE_TOKEN_INTROSPECTION_CACHE_SECONDS."""
    return service.revoke_credentials(principal, institution_id)


@router.post("/tokens/introspect", response_model=Introspection, response_model_exclude_none=True,
             operation_id="tokens_introspect")
def introspect_token(body: IntrospectionRequest, service: Service,
                     principal: Caller) -> Introspection:
    """Is this an active gateway token, and whose? (RFC 7662 style, with a JSON body; only
    for the `regional_service` token of the registry.)"""
    return service.introspect(principal, body.token)


# Bulk import and export ------------------------------------------------------------------


async def raw_body(request: Request) -> bytes:
    return await request.body()


@router.get("/export/{kind}", operation_id="entries_export")
def export_entries(kind: EntryKind, service: Service, _: Caller,
                   format: Literal["json", "csv"] = "json", country: Code = None) -> Response:
    """Every entry of a kind (or of one country), as a JSON array or CSV; an import takes
    the same back."""
    entry_kind = EDITABLE[kind]
    records = service.export(entry_kind, country)
    assert entry_kind.data is not None
    if format == "csv":
        return Response(transfer.to_csv(entry_kind.data, records), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'})
    return Response(transfer.to_json(records), media_type=transfer.JSON_MEDIA_TYPE)


@router.post("/import/{kind}", response_model=ImportResult, operation_id="entries_import")
def import_entries(
    kind: EntryKind, request: Request, body: Annotated[bytes, Depends(raw_body)],
    service: Service, principal: Caller,
) -> ImportResult:
    """Create or replace entries in bulk from CSV (text/csv) or JSON (application/json).
    Every line is checked first: all are applied, or none, with a report line by line."""
    entry_kind = EDITABLE[kind]
    assert entry_kind.data is not None
    lines = transfer.parse(entry_kind.data, request.headers.get("content-type", ""), body)
    return service.import_entries(principal, entry_kind, lines)


# Snapshot --------------------------------------------------------------------------------


@router.get("/snapshot", responses={200: {"content": {"application/jose": {}}}},
            operation_id="snapshot_get")
def get_snapshot(
    request: Request, service: Service, _: Caller,
    since: Annotated[NonNegativeInt32 | None, Query(description="Only what changed after this "
                                                             "version")] = None,
) -> Response:
    """The whole directory (or the changes since a version) as a JWS compact serialization
    signed by the directory, with version, issued-at and expiry."""
    content = service.snapshot(since)
    request.app.state.directory_metrics.snapshots.labels(
        "full" if since is None else "delta").inc()
    token = sign_snapshot(content, request.app.state.snapshot_key,
                          request.app.state.snapshot_ttl_seconds)
    return Response(token, media_type="application/jose",
                    headers={"Enlace-Directory-Version": str(content["version"])})
