"""All directory queries."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, delete, exists, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, col, select

from services.directory.models import (
    Area,
    Change,
    Country,
    DirectoryState,
    FocalPoint,
    Institution,
    InstitutionKey,
    SearchTag,
)
from shared.kit.db import Repository
from shared.kit.pagination import invalid_cursor
from shared.protocol.auth import ApiToken
from shared.protocol.directory_search import MAX_AREA_DEPTH

Row = TypeVar("Row", bound=SQLModel)
Listed = TypeVar("Listed", Institution, FocalPoint)

INSTITUTION = "institution"
FOCAL_POINT = "focal_point"


@dataclass
class Filters:
    """What a search narrows on; every field is optional."""

    terms: list[str] = field(default_factory=list)
    country: str | None = None
    language: str | None = None
    area_chain: list[str] = field(default_factory=list)  # the area, then those containing it
    area_country: str | None = None
    include_inactive: bool = False


def _tagged(owner: str, owner_id: Any, kind: str, values: Sequence[str]) -> ColumnElement[bool]:
    return exists().where(
        col(SearchTag.owner) == owner, col(SearchTag.owner_id) == owner_id,
        col(SearchTag.kind) == kind, col(SearchTag.value).in_(values),
    )


def _common(model: type[Listed], owner: str, f: Filters) -> list[ColumnElement[bool]]:
    conditions = [col(model.search_text).contains(t, autoescape=True) for t in f.terms]
    if f.country:
        conditions.append(col(model.country) == f.country)
    if f.language:
        conditions.append(_tagged(owner, col(model.id), "language", [f.language]))
    if f.area_chain:  # covering the area, an area containing it, or its whole country
        covering = [*f.area_chain, str(f.area_country)]
        conditions.append(_tagged(owner, col(model.id), "area", covering))
    if not f.include_inactive:
        conditions.append(col(model.active).is_(True))
    return conditions


class DirectoryRepository(Repository):
    # Version ---------------------------------------------------------------------------

    def version(self) -> int:
        return int(self.session.exec(select(DirectoryState.version)).one())

    def raise_version(self) -> int:
        """Lock the directory for writing until commit and return the new version.

        Writers queue on this row (PostgreSQL: row lock; SQLite: the write lock), so
        versions become visible in the order they are numbered and a gateway asking for
        changes since a version never misses one committed later with a lower number.
        """
        self.session.exec(update(DirectoryState).values(version=DirectoryState.version + 1))
        return self.version()

    # Reading one thing -------------------------------------------------------------------

    def get(self, model: type[Row], entry_id: str) -> Row | None:
        return self.session.get(model, entry_id)

    def countries(self) -> list[Country]:
        return list(self.session.exec(select(Country).order_by(col(Country.code))))

    def country(self, code: str) -> Country | None:
        return self.session.get(Country, code)

    def area(self, area_id: str) -> Area | None:
        return self.session.get(Area, area_id)

    def area_chain(self, area_id: str) -> list[Area]:
        """The area and the areas that contain it, innermost first."""
        chain: list[Area] = []
        area = self.area(area_id)
        while area is not None and len(chain) < MAX_AREA_DEPTH:
            chain.append(area)
            area = self.area(area.parent_id) if area.parent_id else None
        return chain

    def areas(self, country: str | None = None) -> list[Area]:
        query = select(Area).order_by(col(Area.country), col(Area.id))
        if country:
            query = query.where(col(Area.country) == country)
        return list(self.session.exec(query))

    def institution(self, institution_id: str) -> Institution | None:
        return self.session.get(Institution, institution_id)

    def focal_points_of(self, institution_id: str) -> list[FocalPoint]:
        query = select(FocalPoint).where(col(FocalPoint.institution_id) == institution_id)
        return list(self.session.exec(query.order_by(col(FocalPoint.id))))

    def key(self, kid: str) -> InstitutionKey | None:
        return self.session.get(InstitutionKey, kid)

    def active_tokens(self, institution_id: str, role: str) -> list[ApiToken]:
        query = (select(ApiToken)
                 .where(col(ApiToken.institution_id) == institution_id,
                        col(ApiToken.role) == role, col(ApiToken.revoked_at).is_(None))
                 .order_by(col(ApiToken.created_at)))
        return list(self.session.exec(query))

    def keys_of(self, institution_id: str) -> list[InstitutionKey]:
        query = (select(InstitutionKey)
                 .where(col(InstitutionKey.institution_id) == institution_id)
                 .order_by(col(InstitutionKey.valid_from), col(InstitutionKey.kid)))
        return list(self.session.exec(query))

    def existing_ids(self, model: type[SQLModel], ids: Iterable[str]) -> set[str]:
        return {row.id for row in self.by_ids(model, ids)}  # type: ignore[attr-defined]

    def by_ids(self, model: type[Row], ids: Iterable[str]) -> list[Row]:
        key = col(getattr(model, model.__table__.primary_key.columns.keys()[0]))  # type: ignore[attr-defined]
        wanted, rows = sorted(set(ids)), list[Row]()
        for start in range(0, len(wanted), 500):
            rows += self.session.exec(select(model).where(key.in_(wanted[start:start + 500])))
        return rows

    def all(self, model: type[Row], country: str | None = None) -> list[Row]:
        table = model.__table__  # type: ignore[attr-defined]
        query = select(model).order_by(*table.primary_key.columns)
        if country and "country" in table.columns:
            query = query.where(table.columns["country"] == country)
        return list(self.session.exec(query))

    # Search ------------------------------------------------------------------------------

    def _page(self, model: type[Listed], conditions: list[ColumnElement[bool]],
              after_id: str | None, limit: int) -> tuple[list[Listed], int]:
        """One page in a stable order (country, name, id), after the entry `after_id` (a
        previous page's last), and the number of all matches.

        The keys of every match are read in one pass and paged here: a directory is at most
        some tens of thousands of entries, and one pass costs the same whether the words are
        rare or common (an ordered scan that stops after a page is fast for common words and
        slow for rare ones)."""
        keys = sorted(tuple(key) for key in self.session.exec(
            select(model.country, model.name_key, model.id).where(*conditions)))
        start = 0
        if after_id is not None:
            last = self.session.get(model, after_id)
            if last is None:
                raise invalid_cursor()
            start = bisect_right(keys, (last.country, last.name_key, last.id))
        page = [key[2] for key in keys[start:start + limit]]
        rows = {row.id: row for row in self.by_ids(model, page)}
        return [rows[i] for i in page], len(keys)

    def search_institutions(self, f: Filters, type: str | None, competence: str | None,
                            after_id: str | None, limit: int) -> tuple[list[Institution], int]:
        conditions = _common(Institution, INSTITUTION, f)
        if type:
            conditions.append(col(Institution.type) == type)
        if competence:
            conditions.append(_tagged(INSTITUTION, col(Institution.id), "competence",
                                      [competence]))
        return self._page(Institution, conditions, after_id, limit)

    def search_focal_points(self, f: Filters, institution_id: str | None, topic: str | None,
                            after_id: str | None, limit: int) -> tuple[list[FocalPoint], int]:
        conditions = _common(FocalPoint, FOCAL_POINT, f)
        if institution_id:
            conditions.append(col(FocalPoint.institution_id) == institution_id)
        if topic:
            conditions.append(_tagged(FOCAL_POINT, col(FocalPoint.id), "topic", [topic]))
        return self._page(FocalPoint, conditions, after_id, limit)

    def lookup_candidates(self, country: str, topic: str, covering: list[str],
                          language: str | None, now: datetime
                          ) -> list[tuple[str, str, bool, str]]:
        """Focal points of a country for a topic, active and valid, tagged with an area of
        `covering`: (id, the area tag, available 24/7, folded name), a row per tag."""
        # Start from the few focal points tagged with these areas, not from the country's.
        tag = aliased(SearchTag)
        query = (
            select(FocalPoint.id, tag.value, FocalPoint.available_24_7, FocalPoint.name_key)
            .join(Institution, col(Institution.id) == col(FocalPoint.institution_id))
            .join(tag, col(tag.owner_id) == col(FocalPoint.id))
            .where(
                col(tag.owner) == FOCAL_POINT, col(tag.kind) == "area",
                col(tag.value).in_(covering),
                col(FocalPoint.country) == country,
                col(FocalPoint.active).is_(True), col(Institution.active).is_(True),
                _tagged(FOCAL_POINT, col(FocalPoint.id), "topic", [topic]),
                or_(col(FocalPoint.valid_from).is_(None), col(FocalPoint.valid_from) <= now),
                or_(col(FocalPoint.valid_to).is_(None), col(FocalPoint.valid_to) > now),
            )
        )
        if language:
            query = query.where(_tagged(FOCAL_POINT, col(FocalPoint.id), "language", [language]))
        return [(fp_id, value, always, name)
                for fp_id, value, always, name in self.session.exec(query)]

    def focal_points_with_institutions(self, ids: list[str]
                                       ) -> dict[str, tuple[FocalPoint, Institution]]:
        query = (select(FocalPoint, Institution)
                 .join(Institution, col(Institution.id) == col(FocalPoint.institution_id))
                 .where(col(FocalPoint.id).in_(ids)))
        return {fp.id: (fp, inst) for fp, inst in self.session.exec(query)}

    # Writing -----------------------------------------------------------------------------

    def set_tags(self, owner: str, owner_id: str, tags: dict[str, list[str]],
                 new: bool = False) -> None:
        table = SearchTag.__table__  # type: ignore[attr-defined]
        if not new:
            self.session.exec(delete(table).where(table.c.owner == owner,
                                                  table.c.owner_id == owner_id))
        rows = [{"owner": owner, "owner_id": owner_id, "kind": kind, "value": value}
                for kind, values in tags.items() for value in sorted(set(values))]
        if rows:
            self.session.exec(insert(table), params=rows)

    # History -----------------------------------------------------------------------------

    def log(self, change: dict[str, Any]) -> None:
        self.session.exec(insert(Change), params=[change])

    def history(self, entries: list[tuple[str, list[str]]]) -> list[Change]:
        """Changes to the entries named by (entity, ids), oldest first."""
        matches = [and_(col(Change.entity) == entity, col(Change.entity_id).in_(ids))
                   for entity, ids in entries if ids]
        query = select(Change).where(or_(*matches)).order_by(col(Change.seq))
        return list(self.session.exec(query))

    def changed_since(self, version: int) -> dict[str, set[str]]:
        query = (select(Change.entity, Change.entity_id)
                 .where(col(Change.version) > version).distinct())
        changed: dict[str, set[str]] = {}
        for entity, entity_id in self.session.exec(query):
            changed.setdefault(entity, set()).add(entity_id)
        return changed
