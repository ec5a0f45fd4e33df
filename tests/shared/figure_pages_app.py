"""A console app with nothing but the Figures page of the gateway or of the registry, on a
SQLite file of people and sessions, its figures from a `FixedSource` of known tables: the page
tests' harness (TestClient here, a browser in tests/e2e/console/test_figures.py) while the
services' real figure sources are wired elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from sqlmodel import Session, SQLModel, create_engine, select

from services.exchange.console import figure_pages as gateway_figures
from services.registry.console import figure_pages as registry_figures
from shared.kit.errors import Forbidden
from shared.protocol.auth import Principal, Role
from shared.protocol.figures import (
    SUPPRESSED,
    Dimension,
    FigureQuery,
    FigureTable,
    Indicator,
    PublishedCell,
)
from shared.web.kit import PREFIX, WebKit
from shared.web.people import Person, WebSession, create_person, start_session

D = Dimension
COMPUTED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PASSWORD = "a long enough password"


def count(origin: str, destination: str, month: str, value: int | None,
          complementary: bool = False, **more: str) -> PublishedCell:
    dims = {D.origin: origin, D.destination: destination, D.month: month,
            **{D(k): v for k, v in more.items()}}
    if value is None:
        return PublishedCell(dims=dims, value=None, display="" if complementary else SUPPRESSED)
    return PublishedCell(dims=dims, value=value, display=str(value))


def timed(origin: str, destination: str, month: str, measured: int | None,
          median: int | None = None, p90: int | None = None) -> PublishedCell:
    dims = {D.origin: origin, D.destination: destination, D.month: month}
    return PublishedCell(dims=dims, value=measured,
                         display=SUPPRESSED if measured is None else str(measured),
                         median_seconds=median, p90_seconds=p90)


# The region as the registry publishes it: suppressed cells have no value.
REGIONAL_REFERRALS = [
    count("GT", "MX", "2026-01", 8),
    count("HN", "MX", "2026-01", None),
    count("MX", "GT", "2026-01", 7),
    count("MX", "HN", "2026-01", 12),
    count("MX", "HN", "2026-02", None, complementary=True),
    count("MX", "US", "2026-02", 30),
]
REGIONAL_BY_SEX = [
    count("MX", "HN", "2026-01", 9, sex="female"),
    count("MX", "HN", "2026-01", None, sex="male"),
    count("MX", "HN", "2026-01", None, complementary=True, sex="unknown"),
]
TIME_TO_ACCEPTED = [
    timed("MX", "GT", "2026-01", 6, median=3 * 3600, p90=10 * 3600),
    timed("MX", "HN", "2026-01", 20, median=2 * 86400, p90=5 * 86400),
    timed("MX", "US", "2026-01", None),
]
# A country's own figures in full detail.
OWN_REFERRALS = [
    count("MX", "GT", "2026-01", 7),
    count("MX", "HN", "2026-01", 12),
    count("MX", "HN", "2026-02", 2),
    count("MX", "US", "2026-02", 30),
]


@dataclass
class FixedSource:
    """Serves known cells by indicator (and breakdown), and remembers every query it was
    asked, as the person asked it."""

    cells: dict[tuple[Indicator, Dimension | None], list[PublishedCell]]
    suppressed: bool
    asked: list[tuple[Principal, FigureQuery]] = field(default_factory=list)

    def table(self, session: Session, principal: Principal, query: FigureQuery) -> FigureTable:
        self.asked.append((principal, query))
        if principal.role is Role.caseworker:
            raise Forbidden("not for caseworkers", code="role_not_allowed")
        return FigureTable(query=query, suppressed=self.suppressed, computed_at=COMPUTED_AT,
                           cells=self.cells.get((query.indicator, query.by), []))


def regional_source() -> FixedSource:
    return FixedSource({(Indicator.referrals, None): REGIONAL_REFERRALS,
                        (Indicator.referrals, D.sex): REGIONAL_BY_SEX,
                        (Indicator.referral_time_to_accepted, None): TIME_TO_ACCEPTED},
                       suppressed=True)


def own_source() -> FixedSource:
    return FixedSource({(Indicator.referrals, None): OWN_REFERRALS}, suppressed=False)


def figures_app(database: Path, service: str, source: FixedSource | None) -> FastAPI:
    """`service`: "gateway" (MX's) or "registry"; people `admin`, `clerk` (a caseworker) and
    `auditor`, each with PASSWORD."""
    pages = gateway_figures if service == "gateway" else registry_figures
    engine = create_engine(f"sqlite:///{database}")
    SQLModel.metadata.create_all(engine, tables=[Person.__table__,  # type: ignore[attr-defined]
                                                 WebSession.__table__])  # type: ignore[attr-defined]
    with Session(engine) as session:
        create_person(session, "admin", "Ana Admin", "mx-sndif", "MX", Role.country_admin,
                      PASSWORD)
        create_person(session, "clerk", "Carlos Clerk", "mx-sndif", "MX", Role.caseworker,
                      PASSWORD)
        create_person(session, "auditor", "Aída Auditor", "crm-secretariat", "MX",
                      Role.auditor, PASSWORD)
        session.commit()
    app = FastAPI()
    app.state.engine = engine
    if source is not None:
        app.state.figure_source = source
    WebKit(title=f"Figures ({service})", nav=[pages.NAV], home=f"{PREFIX}/figures").mount(app)
    app.include_router(pages.router)
    return app


def session_cookie(app: FastAPI, username: str) -> str:
    """A signed-in session of a person, as its cookie's value."""
    with Session(app.state.engine) as session:
        person = session.exec(select(Person).where(Person.username == username)).one()
        token, _ = start_session(session, person)
        session.commit()
    return token
