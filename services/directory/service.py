"""Directory rules: who may read and change what, and how every change is kept."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, SQLModel

from services.directory.keys import checked_public_key, with_validity
from services.directory.models import (
    Area,
    Country,
    FocalPoint,
    Institution,
    InstitutionKey,
)
from services.directory.repository import (
    FOCAL_POINT,
    INSTITUTION,
    DirectoryRepository,
    Filters,
)
from services.directory.schemas import (
    AreaData,
    AreaPublic,
    ChangePublic,
    Competence,
    CountryData,
    CountryPublic,
    CredentialsRevoked,
    FocalPointData,
    FocalPointPublic,
    GatewayCredentials,
    ImportIssue,
    ImportResult,
    InstitutionBrief,
    InstitutionData,
    InstitutionPublic,
    Introspection,
    KeyPublic,
    LookupAnswer,
    LookupResult,
    Patch,
    PublicKeyIn,
    RevocationReason,
)
from shared.kit.db import utcnow
from shared.kit.errors import Conflict, Forbidden, NotFound, Unavailable, Unprocessable
from shared.protocol.acting import person_of
from shared.protocol.auth import (
    TOKEN_ID_LENGTH,
    Principal,
    Role,
    issue_token,
    principal_for,
    require_role,
    token_id,
)
from shared.protocol.directory_search import (
    area_search_text,
    best_ranks,
    coverage,
    focal_point_search_text,
    fold,
    institution_search_text,
    lookup_message,
    search_terms,
)

ADMINS = (Role.country_admin, Role.regional_admin)
# Issues the NATS credentials (.creds text) of a country's gateway.
NatsIssuer = Callable[[str], str]


@dataclass(frozen=True)
class Kind:
    """One kind of directory entry, as the API, history, import and snapshot name it."""

    entity: str  # in the history
    collection: str  # in the snapshot
    model: type[SQLModel]
    data: type[BaseModel] | None  # what an administrator writes (None: not editable)
    public: type[BaseModel]


COUNTRIES = Kind("country", "countries", Country, None, CountryPublic)
AREAS = Kind("area", "areas", Area, AreaData, AreaPublic)
INSTITUTIONS = Kind(INSTITUTION, "institutions", Institution, InstitutionData, InstitutionPublic)
FOCAL_POINTS = Kind(FOCAL_POINT, "focal_points", FocalPoint, FocalPointData, FocalPointPublic)
KEYS = Kind("key", "keys", InstitutionKey, None, KeyPublic)
KINDS = {"countries": COUNTRIES, "areas": AREAS, "institutions": INSTITUTIONS,
         "focal-points": FOCAL_POINTS, "keys": KEYS}
EDITABLE = {name: kind for name, kind in KINDS.items() if kind.data is not None}


@dataclass(frozen=True)
class Issue:
    """Why an entry cannot be written; 403 issues are about who asks, 422 about what."""

    field: str | None
    code: str
    message: str
    status: int = 422


def record_of(kind: Kind, row: SQLModel) -> dict[str, Any]:
    """An entry as the API shows it (and as the history compares it)."""
    return kind.public.model_validate(row).model_dump(mode="json", exclude={"updated_at"})


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {name: [before.get(name), value] for name, value in after.items()
            if before.get(name) != value}


def validation_issues(exc: ValidationError) -> list[Issue]:
    # Where and what kind of error only: never the offending value.
    return [Issue(".".join(str(p) for p in e["loc"]) or None, "invalid_value", e["msg"])
            for e in exc.errors()]


def raise_first(issues: list[Issue]) -> None:
    if not issues:
        return
    issue = max(issues, key=lambda i: i.status == 403)  # who may ask before what is asked
    problem = Forbidden if issue.status == 403 else Unprocessable
    raise problem(issue.message, code=issue.code, field=issue.field)


class DirectoryService:
    def __init__(self, session: Session) -> None:
        self.repo = DirectoryRepository(session)
        self._version: int | None = None
        self._known: set[tuple[str, str]] = set()

    # Reading ---------------------------------------------------------------------------

    def get(self, kind: Kind, entry_id: str) -> Any:
        row = self.repo.get(kind.model, entry_id)
        if row is None:
            raise NotFound(f"No {kind.entity.replace('_', ' ')} has this id.",
                           code=f"{kind.entity}_not_found")
        return row

    def institution(self, institution_id: str) -> Institution:
        return self.get(INSTITUTIONS, institution_id)

    def area(self, area_id: str) -> Area:
        return self.get(AREAS, area_id)

    def _country(self, code: str | None) -> str | None:
        if code and self.repo.country(code.upper()) is None:
            raise NotFound("No country has this code.", code="country_not_found")
        return code.upper() if code else None

    def countries(self) -> list[Country]:
        """By code."""
        return self.repo.countries()

    def areas(self, country: str | None, q: str | None) -> list[Area]:
        """By id, of one country or matching words."""
        rows = self.repo.areas(self._country(country))
        terms = search_terms(q or "")
        return sorted((a for a in rows if all(t in area_search_text(a.model_dump())
                                              for t in terms)), key=lambda a: a.id)

    def _filters(self, q: str | None, country: str | None, language: str | None,
                 area: str | None, include_inactive: bool) -> Filters:
        chain = self.repo.area_chain(self.area(area).id) if area else []
        return Filters(
            terms=search_terms(q or ""), country=self._country(country), language=language,
            area_chain=[a.id for a in chain], area_country=chain[0].country if chain else None,
            include_inactive=include_inactive,
        )

    def search_institutions(
        self, *, q: str | None = None, country: str | None = None, type: str | None = None,
        competence: str | None = None, language: str | None = None, area: str | None = None,
        include_inactive: bool = False, limit: int = 20, after_id: str | None = None,
    ) -> tuple[list[InstitutionPublic], int]:
        """Up to `limit` matches after the one `after_id`, and the number of all."""
        filters = self._filters(q, country, language, area, include_inactive)
        rows, total = self.repo.search_institutions(filters, type, competence, after_id, limit)
        return [InstitutionPublic.model_validate(r) for r in rows], total

    def search_focal_points(
        self, *, q: str | None = None, country: str | None = None,
        institution_id: str | None = None, topic: str | None = None,
        language: str | None = None, area: str | None = None, include_inactive: bool = False,
        limit: int = 20, after_id: str | None = None,
    ) -> tuple[list[FocalPointPublic], int]:
        """Up to `limit` matches after the one `after_id`, and the number of all."""
        filters = self._filters(q, country, language, area, include_inactive)
        rows, total = self.repo.search_focal_points(filters, institution_id, topic, after_id,
                                                    limit)
        return [FocalPointPublic.model_validate(r) for r in rows], total

    def lookup(self, country: str, topic: Competence, area_id: str | None,
               language: str | None, limit: int = 10) -> LookupAnswer:
        """Who to call: focal points for the area first (innermost area first), then national;
        at each level 24/7 first, then by name."""
        code = str(self._country(country))
        area = self.area(area_id) if area_id else None
        chain = [a.id for a in self.repo.area_chain(area.id)] if area else []
        covering = [*chain, code]  # from the most specific to the whole country
        ranked = best_ranks(self.repo.lookup_candidates(code, topic, covering, language,
                                                        utcnow()), covering, limit)
        found = self.repo.focal_points_with_institutions([fp_id for *_, fp_id in ranked])
        results = [
            LookupResult(
                rank=rank, coverage="area" if distance < len(chain) else "national",
                covered_area=chain[distance] if distance < len(chain) else None,
                focal_point=FocalPointPublic.model_validate(found[fp_id][0]),
                institution=InstitutionBrief.model_validate(found[fp_id][1]))
            for rank, (distance, *_, fp_id) in enumerate(ranked, start=1)
        ]
        matched = any(r.coverage == "area" for r in results) if area else None
        return LookupAnswer(
            country=code, topic=topic, area=AreaPublic.model_validate(area) if area else None,
            area_matched=matched, results=results,
            message=lookup_message(code, topic, area.name if area else None, matched,
                                   bool(results)),
        )

    def history(self, kind: Kind, entry_id: str) -> list[ChangePublic]:
        self.get(kind, entry_id)
        entries = [(kind.entity, [entry_id])]
        if kind is INSTITUTIONS:
            entries.append(("key", [k.kid for k in self.repo.keys_of(entry_id)]))
        return [ChangePublic.model_validate(c) for c in self.repo.history(entries)]

    # Writing entries -------------------------------------------------------------------

    def _write_version(self) -> int:
        """The version this transaction writes; the first call locks the directory."""
        if self._version is None:
            self._version = self.repo.raise_version()
        return self._version

    def _exists(self, model: type[SQLModel], entry_id: str) -> bool:
        if (model.__name__, entry_id) not in self._known and \
                self.repo.get(model, entry_id) is not None:
            self._known.add((model.__name__, entry_id))
        return (model.__name__, entry_id) in self._known

    def _permission(self, principal: Principal, country: str) -> list[Issue]:
        if principal.role == Role.regional_admin:
            return []
        if principal.role != Role.country_admin:
            return [Issue(None, "role_not_allowed", "Only country and regional administrators "
                          "change the directory.", 403)]
        if principal.country != country:
            return [Issue("country", "not_your_country", "A country administrator changes only "
                          "the entries of their own country.", 403)]
        return []

    def _unknown(self, model: type[SQLModel], field: str, value: str | list[str] | None,
                 code: str, pending: Iterable[str] = ()) -> list[Issue]:
        """An issue per value not in the directory (nor, for an import, in the same import);
        named by field and position, never by the value."""
        values = value if isinstance(value, list) else [value]
        noun = field.removesuffix("_id").removesuffix("s").replace("_", " ")
        return [Issue(f"{field}.{i}" if isinstance(value, list) else field, code,
                      f"This {noun} is not in the directory.")
                for i, v in enumerate(values)
                if v and v not in pending and not self._exists(model, v)]

    def check(self, principal: Principal, kind: Kind, data: Any, existing: Any,
              pending: set[str]) -> list[Issue]:
        """Everything that would stop this entry being written, without writing it."""
        if kind is FOCAL_POINTS:
            institution = self.repo.institution(data.institution_id)
            if institution is None:
                return [Issue("institution_id", "unknown_institution",
                              "The focal point's institution is not in the directory.")]
            if existing is not None and existing.institution_id != data.institution_id:
                return [Issue("institution_id", "institution_immutable",
                              "A focal point cannot move to another institution.")]
            issues = self._permission(principal, institution.country)
            return issues + self._unknown(Area, "areas", data.areas, "unknown_area")
        issues = self._permission(principal, data.country)
        if existing is not None and existing.country != data.country:
            issues.append(Issue("country", "country_immutable",
                                "The country of an entry cannot change."))
        issues += self._unknown(Country, "country", data.country, "unknown_country")
        if data.parent_id == data.id:
            issues.append(Issue("parent_id", "parent_is_itself", "An entry cannot contain "
                                "itself."))
        elif kind is AREAS:
            issues += self._unknown(Area, "parent_id", data.parent_id, "unknown_area", pending)
            parent = self.repo.area(data.parent_id) if data.parent_id else None
            if parent is not None and (parent.country != data.country or data.id in
                                       [a.id for a in self.repo.area_chain(parent.id)]):
                issues.append(Issue("parent_id", "invalid_parent", "The parent area must be "
                                    "of the same country and must not be inside this area."))
        else:
            issues += self._unknown(Institution, "parent_id", data.parent_id,
                                    "unknown_institution", pending)
            issues += self._unknown(Area, "areas", data.areas, "unknown_area")
            issues += self._unknown(Country, "gateway_country", data.gateway_country,
                                    "unknown_country")
        return issues

    def create(self, principal: Principal, kind: Kind, data: Any) -> Any:
        self._write_version()
        if self._exists(kind.model, data.id):
            raise Conflict(f"A {kind.entity.replace('_', ' ')} with this id exists already.",
                           code=f"{kind.entity}_exists")
        raise_first(self.check(principal, kind, data, None, set()))
        return self._apply(principal, kind, data, None)[0]

    def update(self, principal: Principal, kind: Kind, entry_id: str, patch: Patch) -> Any:
        """Change the fields sent; `{"active": false}` deactivates (nothing is ever deleted)."""
        assert kind.data is not None
        self._write_version()
        existing = self.get(kind, entry_id)
        current = kind.data.model_validate(existing, from_attributes=True).model_dump()
        try:
            data = kind.data.model_validate({**current, **patch.model_dump(exclude_unset=True)})
        except ValidationError as exc:
            errors = [{"location": ["body", *e["loc"]], "message": e["msg"], "kind": e["type"]}
                      for e in exc.errors()]
            raise Unprocessable("The entry would not be valid with these changes.",
                                errors=errors) from exc
        raise_first(self.check(principal, kind, data, existing, set()))
        return self._apply(principal, kind, data, existing)[0]

    def import_entries(self, principal: Principal, kind: Kind,
                       lines: list[tuple[int, Any]]) -> ImportResult:
        """Check every line first; apply all of them, or none with a report line by line."""
        assert kind.data is not None
        require_role(principal, *ADMINS)
        self._write_version()
        raws = [raw for _, raw in lines if isinstance(raw, dict)]
        pending = {str(raw.get("id")) for raw in raws}
        stored = {row.id: row for row in self.repo.by_ids(kind.model, pending)}  # type: ignore[attr-defined]
        if kind is FOCAL_POINTS:  # load their institutions in one query, not one per line
            self.repo.by_ids(Institution, {str(raw.get("institution_id")) for raw in raws})
        issues: list[tuple[int, Issue]] = []
        accepted: list[tuple[Any, Any]] = []
        seen: set[str] = set()
        for line, raw in lines:
            try:
                data: Any = kind.data.model_validate(raw)
            except ValidationError as exc:
                issues += [(line, issue) for issue in validation_issues(exc)]
                continue
            entry_id = data.id
            if entry_id in seen:
                issues.append((line, Issue("id", "duplicate_id", "The same id is on an earlier "
                                           "line.")))
            seen.add(entry_id)
            existing = stored.get(entry_id)
            issues += [(line, i) for i in self.check(principal, kind, data, existing, pending)]
            accepted.append((data, existing))
        if issues:
            report = [ImportIssue(line=line, field=i.field, code=i.code, message=i.message)
                      .model_dump() for line, i in issues]
            problem = Forbidden if any(i.status == 403 for _, i in issues) else Unprocessable
            raise problem(f"{len({line for line, _ in issues})} line(s) cannot be imported; "
                          "nothing was applied.", code="import_rejected", errors=report)
        outcomes = [self._apply(principal, kind, data, existing)[1]
                    for data, existing in parents_first(accepted)]
        return ImportResult(version=self._write_version(), created=outcomes.count("created"),
                            updated=outcomes.count("updated"),
                            unchanged=outcomes.count("unchanged"))

    def export(self, kind: Kind, country: str | None) -> list[dict[str, Any]]:
        assert kind.data is not None
        data = kind.data
        return [data.model_validate(row, from_attributes=True).model_dump(mode="json")
                for row in self.repo.all(kind.model, self._country(country))]

    def _apply(self, principal: Principal, kind: Kind, data: Any,
               existing: Any) -> tuple[Any, str]:
        values = data.model_dump()
        before = record_of(kind, existing) if existing is not None else {}
        row: Any = existing if existing is not None else kind.model(**values)
        for name, value in values.items():
            setattr(row, name, value)
        changes = diff(before, record_of(kind, row))
        if not changes:
            return row, "unchanged"
        row.updated_at = utcnow()
        self._index(kind, row, new=existing is None, changed=set(changes))
        self.repo.add(row)
        if existing is None:
            action = "created"
        elif "active" in changes:
            action = "reactivated" if row.active else "deactivated"
        else:
            action = "updated"
        self._log(principal, kind.entity, row.id, action, changes)
        return row, "created" if existing is None else "updated"

    def _log(self, principal: Principal, entity: str, entity_id: str, action: str,
             changes: dict[str, Any]) -> None:
        person_id, person_name = person_of(principal)
        self.repo.log({
            "version": self._write_version(), "entity": entity, "entity_id": entity_id,
            "action": action, "actor_institution": principal.institution_id,
            "actor_role": principal.role.value, "actor_person_id": person_id,
            "actor_person_name": person_name, "at": utcnow(), "changes": changes,
        })

    # What search filters on, kept next to each entry -------------------------------------

    def _index(self, kind: Kind, row: Any, new: bool, changed: set[str]) -> None:
        if kind is INSTITUTIONS:
            self._index_institution(row, new)
            if not new and changed & {"name", "acronym", "areas"}:
                for fp in self.repo.focal_points_of(row.id):
                    self._index_focal_point(fp, row, new=False)
                    self.repo.add(fp)
        elif kind is FOCAL_POINTS:
            self._index_focal_point(row, self.institution(row.institution_id), new)

    def _index_institution(self, inst: Institution, new: bool) -> None:
        country = self.repo.country(inst.country)
        record = inst.model_dump()
        inst.name_key = fold(inst.name)
        inst.search_text = institution_search_text(record,
                                                   country.model_dump() if country else None)
        self.repo.set_tags(INSTITUTION, inst.id, {
            "competence": inst.competences, "language": inst.languages,
            "area": coverage(record),
        }, new)

    def _index_focal_point(self, fp: FocalPoint, inst: Institution, new: bool) -> None:
        fp.country, fp.name_key = inst.country, fold(fp.name)
        record, institution = fp.model_dump(), inst.model_dump()
        fp.search_text = focal_point_search_text(record, institution)
        self.repo.set_tags(FOCAL_POINT, fp.id, {
            "topic": fp.topics, "language": fp.languages,
            "area": coverage(record, institution),
        }, new)

    # Keys ------------------------------------------------------------------------------

    def keys(self, institution_id: str) -> list[InstitutionKey]:
        self.institution(institution_id)
        return self.repo.keys_of(institution_id)

    def jwks(self, institution_id: str) -> list[dict[str, Any]]:
        """Keys valid now and not revoked, for signing and for encryption, each with its
        validity; none while the institution is deactivated."""
        now = utcnow()
        if not self.institution(institution_id).active:
            return []
        return [with_validity(k.jwk, k.valid_from, k.valid_to)
                for k in self.repo.keys_of(institution_id) if k.revoked_at is None
                and k.valid_from <= now and (k.valid_to is None or k.valid_to > now)]

    def register_key(self, principal: Principal, institution_id: str,
                     body: PublicKeyIn) -> dict[str, Any]:
        """A gateway publishes the public half of a key it holds for a hosted institution."""
        require_role(principal, Role.gateway)
        if principal.institution_id != institution_id:
            raise Forbidden("A gateway registers keys only for its own institutions.",
                            code="not_your_institution")
        self.institution(institution_id)
        key, use, alg = checked_public_key(body.model_dump(exclude={"valid_to"},
                                                           exclude_none=True))
        kid = str(key.thumbprint())
        existing = self.repo.key(kid)
        if existing is None:
            self._write_version()
            existing = self.repo.key(kid)
        if existing is not None:
            if existing.institution_id != institution_id:
                raise Conflict("This key belongs to another institution.", code="key_taken")
            if existing.revoked_at is not None:
                raise Conflict("This key has been revoked; register a new one.",
                               code="key_revoked")
            return existing.jwk
        public = {**key.as_dict(private=False), "kid": kid, "use": use, "alg": alg}
        row = InstitutionKey(kid=kid, institution_id=institution_id, use=use, jwk=public,
                             valid_to=body.valid_to)
        self.repo.add(row)
        self._log(principal, "key", kid, "registered", diff({}, record_of(KEYS, row)))
        return public

    def revoke_key(self, principal: Principal, institution_id: str, kid: str,
                   reason: RevocationReason) -> InstitutionKey:
        """The institution's gateway, its country's administrator or a regional one."""
        self._write_version()
        institution = self.institution(institution_id)
        key = self.repo.key(kid)
        if key is None or key.institution_id != institution_id:
            raise NotFound("The institution has no key with this id.", code="key_not_found")
        own_gateway = principal.role == Role.gateway and principal.institution_id == key.\
            institution_id
        if not own_gateway:
            raise_first(self._permission(principal, institution.country))
        if key.revoked_at is not None:
            raise Conflict("The key is revoked already.", code="key_already_revoked")
        before = record_of(KEYS, key)
        key.revoked_at, key.revocation_reason = utcnow(), reason.value
        self.repo.add(key)
        self._log(principal, "key", kid, "revoked", diff(before, record_of(KEYS, key)))
        return key

    # Joining: countries, and the credentials of an institution's gateway ----------------

    def create_country(self, principal: Principal, data: CountryData) -> Country:
        """A new member or observer country (regional administrators)."""
        require_role(principal, Role.regional_admin)
        self._write_version()
        if self.repo.country(data.code) is not None:
            raise Conflict("A country with this code exists already.", code="country_exists")
        self.upsert_country(principal, data.code, data.name, data.name_es, data.crm_member)
        return self.get(COUNTRIES, data.code)

    def issue_credentials(self, principal: Principal, institution_id: str,
                          nats_issuer: NatsIssuer | None) -> GatewayCredentials:
        """A new gateway token for the institution (revoking the ones it had) and the NATS
        credentials of its country's gateway; shown once, only the token's hash is kept."""
        require_role(principal, Role.regional_admin)
        self._write_version()
        institution = self.institution(institution_id)
        if not institution.active:
            raise Conflict("The institution is deactivated; reactivate it first.",
                           code="institution_inactive")
        if not institution.gateway_country:
            raise Conflict("The institution has no gateway_country: set which country's "
                           "gateway serves it first.", code="no_gateway_country")
        if nats_issuer is None:
            raise Unavailable("The directory has no NATS account signing key configured "
                              "(ENLACE_NATS_ACCOUNT_SIGNING_KEY_FILE, "
                              "ENLACE_NATS_ACCOUNT_PUBLIC_KEY): it cannot issue NATS "
                              "credentials.", code="nats_signing_key_missing")
        nats_credentials = nats_issuer(institution.gateway_country)
        revoked = self._revoke_gateway_tokens(institution_id)
        token = issue_token(self.repo.session, institution_id, institution.country,
                            Role.gateway, label="gateway credentials")
        issued = GatewayCredentials(
            institution_id=institution_id, country=institution.country,
            gateway_country=institution.gateway_country, token=token,
            token_id=token_id(token), issued_at=utcnow(), nats_credentials=nats_credentials)
        self._log(principal, INSTITUTION, institution_id, "credentials-issued", {
            "gateway_token": [revoked[-1] if revoked else None, issued.token_id],
            "nats_credentials": [None, institution.gateway_country]})
        return issued

    def revoke_credentials(self, principal: Principal, institution_id: str
                           ) -> CredentialsRevoked:
        """Revoke the institution's gateway tokens (at the registry within its cache bound).
        NATS credentials are per country and are not revoked here (docs/directory.md)."""
        require_role(principal, Role.regional_admin)
        self._write_version()
        self.institution(institution_id)
        revoked = self._revoke_gateway_tokens(institution_id)
        if not revoked:
            raise Conflict("The institution has no active gateway token.",
                           code="no_active_credentials")
        self._log(principal, INSTITUTION, institution_id, "credentials-revoked",
                  {"gateway_token": [revoked[-1], None]})
        return CredentialsRevoked(institution_id=institution_id, revoked_token_ids=revoked)

    def _revoke_gateway_tokens(self, institution_id: str) -> list[str]:
        revoked = []
        for row in self.repo.active_tokens(institution_id, Role.gateway.value):
            row.revoked_at = utcnow()
            self.repo.add(row)
            revoked.append(row.token_hash[:TOKEN_ID_LENGTH])
        return revoked

    def introspect(self, principal: Principal, token: str) -> Introspection:
        """Whether `token` is an active gateway token of an active institution (RFC 7662
        style), for the registry's own service token only."""
        require_role(principal, Role.regional_service)
        found = principal_for(self.repo.session, token)
        if found is None or found.role != Role.gateway:
            return Introspection(active=False)
        institution = self.repo.institution(found.institution_id)
        if institution is None or not institution.active:
            return Introspection(active=False)
        return Introspection(active=True, institution_id=found.institution_id,
                             country=found.country, role=found.role.value,
                             token_type="Bearer")  # noqa: S106 (a token type, not a secret)

    # Snapshot --------------------------------------------------------------------------

    def snapshot(self, since: int | None) -> dict[str, Any]:
        """The whole directory, or what changed after `since`, at the current version."""
        version = self.repo.version()  # read first: the entries read after are at least this
        if since is not None and since > version:
            raise Conflict("The directory has no such version; ask for a full snapshot.",
                           code="unknown_version", version=version)
        changed = self.repo.changed_since(since) if since is not None else {}
        payload: dict[str, Any] = {"version": version, "since": since}
        for kind in KINDS.values():
            rows = (self.repo.all(kind.model) if since is None
                    else self.repo.by_ids(kind.model, changed.get(kind.entity, ())))
            payload[kind.collection] = [kind.public.model_validate(r).model_dump(mode="json")
                                        for r in rows]
        return payload

    # Reference data (the seed) ---------------------------------------------------------

    def upsert_country(self, principal: Principal, code: str, name: str, name_es: str,
                       crm_member: bool) -> None:
        kind = COUNTRIES
        existing = self.repo.country(code)
        before = record_of(kind, existing) if existing else {}
        country = existing or Country(code=code, name=name, name_es=name_es)
        country.name, country.name_es, country.crm_member = name, name_es, crm_member
        changes = diff(before, record_of(kind, country))
        if changes:
            self._write_version()
            self.repo.add(country)
            self._log(principal, kind.entity, code, "created" if not before else "updated",
                      changes)


def parents_first(accepted: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Order an import so that an entry's parent in the same import is written before it."""
    by_id = {data.id: (data, existing) for data, existing in accepted}
    ordered: list[tuple[Any, Any]] = []
    placed: set[str] = set()

    def place(entry_id: str, path: tuple[str, ...] = ()) -> None:
        if entry_id in placed or entry_id not in by_id:
            return
        if entry_id in path:
            raise Unprocessable("Entries of the import are each other's parents.",
                                code="parent_cycle")
        parent = getattr(by_id[entry_id][0], "parent_id", None)
        if parent:
            place(parent, (*path, entry_id))
        placed.add(entry_id)
        ordered.append(by_id[entry_id])

    for entry_id in by_id:
        place(entry_id)
    return ordered
