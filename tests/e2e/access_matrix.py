"""Who may call what: every operation of every service, with the callers it admits.

The table is `operations(demo)`: one `Operation` per method and path of a service's OpenAPI
document, with `who` may call it and the `cases` it is tried with (path values, query, a body,
and the institution or country the target belongs to, so that crossing scope is really tried).
test_access_matrix.py calls each case as every caller of the demo stack and checks the outcome
this table implies:

- `PUBLIC`: anyone, with or without a token: never 401 nor 403.
- otherwise a caller whose token the service does not know (none, a bad one, a token of another
  service) gets 401;
- a caller whose role is not in `roles` gets 403 (`role_not_allowed` and kin);
- with a `scope`, a caller of an allowed role outside it gets `outside`: 403, or 404 where the
  API hides that the target exists (referrals, alerts, consents);
- every other caller is allowed: anything but 401 and 403 (404 for a target that does not
  exist, 409 or 422 for a probe body, 2xx).

Writes are probed with bodies an allowed caller gets refused for a reason checked after the
permission (an unknown parent, an illegal transition, an existing id), so the demo data does
not change, except where noted (a spare key revoked, a consent withdrawn, an alert
acknowledged, a webhook to a closed port).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from services.demo_data import SAMPLE_REFERRAL
from tests.e2e.test_alerts import ALERT
from tests.registry.conftest import agreement_body, consent_body

ALLOWED = "allowed"  # anything but 401 and 403


@dataclass(frozen=True)
class Caller:
    """Who a token is at one service: the institution and country it acts for, and its role."""

    institution: str
    country: str
    role: str


@dataclass(frozen=True)
class Who:
    """The callers an operation admits."""

    roles: tuple[str, ...] = ()
    public: bool = False
    # Per role, the scope a caller of that role must be in: "institution" (the caller's
    # institution is one of the case's `owners`) or "country" (the caller's country is the
    # case's `country`). Roles not named here are not scoped.
    scope: dict[str, str] = field(default_factory=dict)
    outside: int = 403  # what a caller of an allowed role outside its scope gets

    def expect(self, caller: Caller | None, case: Case) -> str | int:
        if self.public:
            return ALLOWED
        if caller is None:
            return 401
        if self.roles and caller.role not in self.roles:
            return 403
        inside = {"institution": caller.institution in case.owners,
                  "country": caller.country == case.country,
                  None: True}[self.scope.get(caller.role)]
        return ALLOWED if inside else self.outside


PUBLIC = Who(public=True)
SIGNED_IN = Who()  # any caller the service knows, whatever the role


def roles(*names: str, scope: dict[str, str] | None = None, outside: int = 403) -> Who:
    return Who(roles=names, scope=scope or {}, outside=outside)


@dataclass(frozen=True)
class Case:
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    content_type: str = "application/json"
    owners: tuple[str, ...] = ()  # the institutions the target belongs to
    country: str = ""  # the country the target belongs to
    on: str | None = None  # for gateway operations: "MX" or "HN" (None: both)


@dataclass(frozen=True)
class Operation:
    service: str  # "directory", "registry" or "gateway" (each country's)
    method: str
    path: str  # as the service's OpenAPI document names it
    who: Who
    cases: tuple[Case, ...] = (Case(),)


@dataclass(frozen=True)
class Demo:
    """Ids of the demo stack's data that the cases use (set up by the test)."""

    agreement_id: str
    area_mx: str
    area_hn: str
    focal_point_mx: str
    focal_point_hn: str
    spare_kid_mx: str
    spare_kid_hn: str
    consent_id: str  # mx-sndif's
    referral_id: str  # mx-sndif -> hn-senaf, delivered
    alert_id: str  # issued by mx-sndif to HN
    alert_recipient_hn: str  # who holds that alert at Honduras' gateway


ADMINS = ("country_admin", "regional_admin")
OWN_COUNTRY = {"country_admin": "country"}  # a regional administrator: every country
OWN_INSTITUTION = {role: "institution" for role in ("gateway", "caseworker")}
NOBODY = str(uuid.UUID(int=0))  # an id nothing has


def by_country(country: str, **case: Any) -> Case:
    return Case(country=country, **case)


def operations(demo: Demo) -> list[Operation]:
    d, r, g = "directory", "registry", "gateway"
    area = {"kind": "state", "name": "Zona de prueba"}
    institution = {"name": "Institución de prueba", "type": "shelter"}
    focal_point = {"kind": "desk", "name": "Mesa de prueba", "topics": ["reception"],
                   "channels": [{"kind": "email", "value": "mesa@prueba.example.org"}]}
    public_key = {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43}  # not a point: refused after
    referral = {**copy.deepcopy(SAMPLE_REFERRAL), "recipient_id": "zz-nobody"}
    alert = {**copy.deepcopy(ALERT), "target_countries": ["ZZ"]}
    terms = {k: v for k, v in agreement_body().items() if k != "id"}
    backwards = consent_body(valid_from="2026-12-31T00:00:00Z", valid_to="2026-01-01T00:00:00Z")

    def each_country(**cases: Any) -> tuple[Case, ...]:
        return tuple(by_country(c, **{k: v[c] if isinstance(v, dict) and c in v else v
                                      for k, v in cases.items()}) for c in ("MX", "HN"))

    return [
        # Directory ------------------------------------------------------------------------
        Operation(d, "GET", "/healthz", PUBLIC),
        Operation(d, "GET", "/readyz", PUBLIC),
        Operation(d, "GET", "/metrics", PUBLIC),
        Operation(d, "GET", "/v1/countries", SIGNED_IN),
        Operation(d, "GET", "/v1/areas", SIGNED_IN),
        Operation(d, "GET", "/v1/institutions", SIGNED_IN),
        Operation(d, "GET", "/v1/focal-points", SIGNED_IN),
        Operation(d, "GET", "/v1/focal-points/lookup", SIGNED_IN,
                  (Case(query={"country": "HN", "topic": "reception"}),)),
        Operation(d, "POST", "/v1/areas", roles(*ADMINS, scope=OWN_COUNTRY), each_country(body={
            c: {**area, "id": f"{c}-ZZMATRIX", "country": c, "parent_id": f"{c}-ZZNONE"}
            for c in ("MX", "HN")})),
        Operation(d, "POST", "/v1/institutions", roles(*ADMINS, scope=OWN_COUNTRY), each_country(
            body={c: {**institution, "id": f"{c.lower()}-zz-matrix", "country": c,
                      "parent_id": "zz-none"} for c in ("MX", "HN")})),
        Operation(d, "POST", "/v1/focal-points", roles(*ADMINS, scope=OWN_COUNTRY), each_country(
            body={c: {**focal_point, "id": f"{c.lower()}-zz-matrix", "areas": [f"{c}-ZZNONE"],
                      "institution_id": i} for c, i in (("MX", "mx-sndif"), ("HN", "hn-senaf"))
                  })),
        Operation(d, "GET", "/v1/areas/{entry_id}", SIGNED_IN,
                  (Case(path={"entry_id": demo.area_hn}),)),
        Operation(d, "GET", "/v1/institutions/{entry_id}", SIGNED_IN,
                  (Case(path={"entry_id": "hn-senaf"}),)),
        Operation(d, "GET", "/v1/focal-points/{entry_id}", SIGNED_IN,
                  (Case(path={"entry_id": demo.focal_point_hn}),)),
        Operation(d, "PATCH", "/v1/areas/{entry_id}", roles(*ADMINS, scope=OWN_COUNTRY),
                  each_country(path={"MX": {"entry_id": demo.area_mx},
                                     "HN": {"entry_id": demo.area_hn}},
                               body={"MX": {"parent_id": "MX-ZZNONE"},
                                     "HN": {"parent_id": "HN-ZZNONE"}})),
        Operation(d, "PATCH", "/v1/institutions/{entry_id}", roles(*ADMINS, scope=OWN_COUNTRY),
                  each_country(path={"MX": {"entry_id": "mx-sndif"},
                                     "HN": {"entry_id": "hn-senaf"}},
                               body={"MX": {"areas": ["MX-ZZNONE"]},
                                     "HN": {"areas": ["HN-ZZNONE"]}})),
        Operation(d, "PATCH", "/v1/focal-points/{entry_id}", roles(*ADMINS, scope=OWN_COUNTRY),
                  each_country(path={"MX": {"entry_id": demo.focal_point_mx},
                                     "HN": {"entry_id": demo.focal_point_hn}},
                               body={"MX": {"areas": ["MX-ZZNONE"]},
                                     "HN": {"areas": ["HN-ZZNONE"]}})),
        *(Operation(d, "GET", f"/v1/{kind}/{{entry_id}}/history",
                    roles("country_admin", "regional_admin", "auditor"),
                    (Case(path={"entry_id": entry}),))
          for kind, entry in (("areas", demo.area_hn), ("institutions", "hn-senaf"),
                              ("focal-points", demo.focal_point_hn))),
        Operation(d, "GET", "/v1/institutions/{institution_id}/jwks", PUBLIC,
                  (Case(path={"institution_id": "hn-senaf"}),)),
        Operation(d, "GET", "/v1/institutions/{institution_id}/keys", SIGNED_IN,
                  (Case(path={"institution_id": "hn-senaf"}),)),
        # Only an institution's own gateway registers its keys.
        Operation(d, "POST", "/v1/institutions/{institution_id}/keys",
                  roles("gateway", scope=OWN_INSTITUTION),
                  tuple(Case(path={"institution_id": i}, body=public_key, owners=(i,))
                        for i in ("mx-sndif", "hn-senaf"))),
        # Its own gateway, its country's administrator or a regional one revokes a key.
        Operation(d, "POST", "/v1/institutions/{institution_id}/keys/{kid}/revocation",
                  roles("gateway", *ADMINS, scope={**OWN_INSTITUTION, **OWN_COUNTRY}),
                  tuple(Case(path={"institution_id": i, "kid": kid}, body={"reason": "other"},
                             owners=(i,), country=c)
                        for i, c, kid in (("mx-sndif", "MX", demo.spare_kid_mx),
                                          ("hn-senaf", "HN", demo.spare_kid_hn)))),
        Operation(d, "GET", "/v1/export/{kind}", SIGNED_IN,
                  tuple(Case(path={"kind": k}) for k in ("areas", "institutions",
                                                         "focal-points"))),
        Operation(d, "POST", "/v1/import/{kind}", roles(*ADMINS, scope=OWN_COUNTRY), each_country(
            path={"kind": "institutions"},
            body={c: [{**institution, "id": f"{c.lower()}-zz-matrix", "country": c,
                       "parent_id": "zz-none"}] for c in ("MX", "HN")})),
        Operation(d, "GET", "/v1/snapshot", SIGNED_IN),
        # Joining: only the secretariat adds countries and issues gateway credentials (probed
        # with a taken code and an institution that does not exist), and only the registry's
        # own token introspects.
        Operation(d, "POST", "/v1/countries", roles("regional_admin"), (Case(body={
            "code": "MX", "name": "Mexico", "name_es": "México"}),)),
        *(Operation(d, "POST", path, roles("regional_admin"),
                    (Case(path={"institution_id": "zz-nobody"}),))
          for path in ("/v1/institutions/{institution_id}/credentials",
                       "/v1/institutions/{institution_id}/credentials/revocation")),
        Operation(d, "POST", "/v1/tokens/introspect", roles("regional_service"),
                  (Case(body={"token": "enl_not-a-token"}),)),
        # Registry -------------------------------------------------------------------------
        Operation(r, "GET", "/healthz", PUBLIC),
        Operation(r, "GET", "/readyz", PUBLIC),
        Operation(r, "GET", "/metrics", PUBLIC),
        Operation(r, "GET", "/v1/agreements", SIGNED_IN),
        # A gateway drafts only for a party (mx-sndif, hn-senaf); the id exists: 409.
        Operation(r, "POST", "/v1/agreements",
                  roles("regional_admin", "gateway", scope={"gateway": "institution"}),
                  (Case(body=agreement_body(id=demo.agreement_id),
                        owners=("mx-sndif", "hn-senaf")),)),
        *(Operation(r, "GET", path, SIGNED_IN,
                    (Case(path={"agreement_id": demo.agreement_id, "version": "1"}),))
          for path in ("/v1/agreements/{agreement_id}", "/v1/agreements/{agreement_id}/versions",
                       "/v1/agreements/{agreement_id}/versions/{version}",
                       "/v1/agreements/{agreement_id}/versions/{version}/content")),
        Operation(r, "POST", "/v1/agreements/{agreement_id}/versions", roles("regional_admin"),
                  (Case(path={"agreement_id": "agr-zz-none"}, body=terms),)),
        Operation(r, "PUT", "/v1/agreements/{agreement_id}/versions/{version}",
                  roles("regional_admin"),
                  (Case(path={"agreement_id": "agr-zz-none", "version": "1"}, body=terms),)),
        Operation(r, "POST", "/v1/agreements/{agreement_id}/versions/{version}/status",
                  roles("regional_admin"),
                  (Case(path={"agreement_id": "agr-zz-none", "version": "1"},
                        body={"status": "suspended"}),)),
        # The demo agreement is active: not awaiting signatures (409) once the role passed.
        Operation(r, "POST", "/v1/agreements/{agreement_id}/versions/{version}/signatures",
                  roles("gateway"),
                  (Case(path={"agreement_id": demo.agreement_id, "version": "1"},
                        body={"jws": "not.a.signature"}),)),
        Operation(r, "POST", "/v1/consents", roles("gateway"), (Case(body=backwards),)),
        Operation(r, "GET", "/v1/consents", roles("gateway", "auditor", "regional_admin")),
        Operation(r, "GET", "/v1/consents/{consent_id}",
                  roles("gateway", "auditor", "regional_admin",
                        scope=OWN_INSTITUTION, outside=404),
                  (Case(path={"consent_id": demo.consent_id}, owners=("mx-sndif",)),)),
        Operation(r, "POST", "/v1/consents/{consent_id}/withdrawal",
                  roles("gateway", scope=OWN_INSTITUTION, outside=404),
                  (Case(path={"consent_id": demo.consent_id}, owners=("mx-sndif",),
                        body={"withdrawn_by": "guardian", "reason": "other"}),)),
        Operation(r, "POST", "/v1/policy/decisions", roles("gateway", scope=OWN_INSTITUTION),
                  (Case(owners=("mx-sndif", "hn-senaf"), body={
                      "sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
                      "purpose": "reception-and-care", "data_categories": ["identity"],
                      "case_reference": "MX-MATRIX-1"}),)),
        Operation(r, "GET", "/v1/policy/snapshot", roles("gateway")),
        Operation(r, "GET", "/v1/audit/entries", roles("auditor", "regional_admin")),
        Operation(r, "GET", "/v1/audit/quarantine", roles("auditor", "regional_admin")),
        Operation(r, "GET", "/v1/audit/checkpoint", PUBLIC),
        Operation(r, "GET", "/v1/audit/proofs/inclusion", PUBLIC,
                  (Case(query={"leaf_index": 0, "tree_size": 1}),)),
        Operation(r, "GET", "/v1/audit/proofs/consistency", PUBLIC,
                  (Case(query={"first": 1, "second": 1}),)),
        Operation(r, "GET", "/v1/audit/tree", PUBLIC, (Case(query={"start": 0, "end": 1}),)),
        # The region's figures: a country's people reach them acting through their gateway
        # (shared/protocol/acting.py); a gateway's own token is not one of them.
        *(Operation(r, "GET", path, roles("regional_admin", "auditor"),
                    (Case(query={"indicator": "referrals"}),))
          for path in ("/v1/figures", "/v1/figures.csv")),
        # Each country's gateway (its tokens are its own: another gateway's are unknown) ----
        Operation(g, "GET", "/healthz", PUBLIC),
        Operation(g, "GET", "/readyz", PUBLIC),
        Operation(g, "GET", "/metrics", PUBLIC),
        Operation(g, "POST", "/v1/referrals", roles("caseworker"), (Case(body=referral),)),
        Operation(g, "GET", "/v1/referrals", roles("caseworker")),
        *(Operation(g, method, path, roles("caseworker", scope=OWN_INSTITUTION, outside=404),
                    (Case(path={"referral_id": demo.referral_id}, body=body,
                          owners=("mx-sndif",), on="MX"),
                     Case(path={"referral_id": demo.referral_id}, body=body,
                          owners=("hn-senaf",), on="HN")))
          for method, path, body in (
              ("GET", "/v1/referrals/{referral_id}", None),
              # start is illegal for both sides of a delivered referral: 409 once visible
              ("POST", "/v1/referrals/{referral_id}/actions", {"action": "start"}))),
        Operation(g, "GET", "/v1/quarantine", roles("country_admin", "auditor")),
        *(Operation(g, "GET", path, roles("country_admin", "supervisor"),
                    (Case(query={"indicator": "referrals"}),))
          for path in ("/v1/figures", "/v1/figures.csv")),
        Operation(g, "POST", "/v1/alerts", roles("caseworker"), (Case(body=alert),)),
        Operation(g, "GET", "/v1/alerts", roles("caseworker")),
        *(Operation(g, method, path, roles("caseworker", scope=OWN_INSTITUTION, outside=404),
                    (Case(path={"alert_id": demo.alert_id}, body=body, owners=("mx-sndif",),
                          on="MX"),
                     Case(path={"alert_id": demo.alert_id}, body=body,
                          owners=(demo.alert_recipient_hn,), on="HN")))
          for method, path, body in (
              ("GET", "/v1/alerts/{alert_id}", None),
              ("POST", "/v1/alerts/{alert_id}/acknowledge", {"by": "Mesa de prueba"}),
              # located without where: 422 where_required once visible, for either side
              ("POST", "/v1/alerts/{alert_id}/actions", {"action": "located"}))),
        Operation(g, "GET", "/v1/webhooks", roles("country_admin")),
        Operation(g, "POST", "/v1/webhooks", roles("country_admin"),
                  (Case(body={"url": "http://127.0.0.1:9/access-matrix"}),)),
        Operation(g, "DELETE", "/v1/webhooks/{webhook_id}", roles("country_admin"),
                  (Case(path={"webhook_id": NOBODY}),)),
        Operation(g, "GET", "/v1/agreements", roles("country_admin", "auditor")),
        Operation(g, "POST", "/v1/agreements",
                  roles("country_admin", scope={"country_admin": "institution"}),
                  (Case(body=agreement_body(id=demo.agreement_id),
                        owners=("mx-sndif", "hn-senaf")),)),
        *(Operation(g, "GET", path, roles("country_admin", "auditor"),
                    (Case(path={"agreement_id": demo.agreement_id, "version": "1"}),))
          for path in ("/v1/agreements/{agreement_id}/versions",
                       "/v1/agreements/{agreement_id}/versions/{version}/content")),
        # The demo agreement is active: the registry answers 409 once the gateway signed.
        Operation(g, "POST", "/v1/agreements/{agreement_id}/signatures",
                  roles("country_admin"),
                  (Case(path={"agreement_id": demo.agreement_id}, body={"version": 1}),)),
        Operation(g, "POST", "/v1/consents", roles("caseworker", "country_admin"),
                  (Case(body={}),)),
        Operation(g, "GET", "/v1/consents", roles("caseworker", "country_admin", "auditor")),
        Operation(g, "POST", "/v1/consents/{consent_id}/withdrawal",
                  roles("caseworker", "country_admin"),
                  (Case(path={"consent_id": NOBODY}, body={}),)),
    ]
