"""All directory queries."""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.directory.models import Country, Institution, InstitutionKey


class DirectoryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def countries(self) -> list[Country]:
        return list(self.session.exec(select(Country).order_by(col(Country.code))))

    def country(self, code: str) -> Country | None:
        return self.session.get(Country, code)

    def institution(self, institution_id: str) -> Institution | None:
        return self.session.get(Institution, institution_id)

    def institutions(self, country: str | None = None) -> list[Institution]:
        query = select(Institution).order_by(col(Institution.country), col(Institution.id))
        if country:
            query = query.where(Institution.country == country)
        return list(self.session.exec(query))

    def active_keys(self, institution_id: str) -> list[InstitutionKey]:
        query = (
            select(InstitutionKey)
            .where(InstitutionKey.institution_id == institution_id)
            .where(col(InstitutionKey.revoked_at).is_(None))
            .order_by(col(InstitutionKey.created_at))
        )
        return list(self.session.exec(query))

    def key(self, kid: str) -> InstitutionKey | None:
        return self.session.get(InstitutionKey, kid)

    def add(self, row: Country | Institution | InstitutionKey) -> None:
        self.session.add(row)
        self.session.flush()
