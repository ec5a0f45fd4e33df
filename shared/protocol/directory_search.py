"""How the directory is searched: one set of rules for the directory service (over its
database) and for a gateway (over the signed snapshot it holds, while the directory may be
down), so both find and rank the same entries.

Records are the directory's public entries as the API and the snapshot show them (plain
dicts): `fold` and `search_text_*` say what a search compares, `coverage` which areas an
entry serves, `lookup_rank` the order of the focal-point lookup.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

Record = Mapping[str, Any]
MAX_AREA_DEPTH = 6
MAX_TERMS = 8


def fold(text: str) -> str:
    """Lower case without accents: what search compares ('México' -> 'mexico')."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_terms(query: str) -> list[str]:
    return re.findall(r"\w+", fold(query))[:MAX_TERMS]


def matches(terms: list[str], text: str) -> bool:
    """Every word of the query is in the (folded) text."""
    return all(t in text for t in terms)


def institution_search_text(institution: Record, country: Record | None) -> str:
    names = [institution["name"], institution.get("acronym", ""), institution["id"],
             *institution.get("translations", {}).values(),
             country["name"] if country else "", country["name_es"] if country else ""]
    return fold(" ".join(names))


def focal_point_search_text(focal_point: Record, institution: Record) -> str:
    return fold(" ".join([focal_point["name"], focal_point.get("title", ""), focal_point["id"],
                          institution.get("acronym", ""), institution["name"]]))


def area_search_text(area: Record) -> str:
    return fold(f"{area['name']} {area['id']}")


def coverage(entry: Record, institution: Record | None = None) -> list[str]:
    """The areas an institution or a focal point serves (a focal point without areas: its
    institution's; none at all: the whole country, by its code)."""
    own = entry.get("areas") or []
    inherited = (institution.get("areas") or []) if institution else []
    return list(own or inherited or [(institution or entry)["country"]])


def area_chain(area_id: str, area: Callable[[str], Record | None]) -> list[Record]:
    """The area and the areas that contain it, innermost first."""
    chain: list[Record] = []
    found = area(area_id)
    while found is not None and len(chain) < MAX_AREA_DEPTH:
        chain.append(found)
        found = area(found["parent_id"]) if found.get("parent_id") else None
    return chain


def lookup_rank(covering: list[str], tag: str, always: bool, name_key: str,
                focal_point_id: str) -> tuple[int, bool, str, str]:
    """Most specific area first (then national), 24/7 first at each level, then by name."""
    return (covering.index(tag), not always, name_key, focal_point_id)


def best_ranks(candidates: Iterable[tuple[str, str, bool, str]], covering: list[str],
               limit: int) -> list[tuple[int, bool, str, str]]:
    """The best rank of each focal point among its (id, area tag, 24/7, folded name) rows."""
    best: dict[str, tuple[int, bool, str, str]] = {}
    for fp_id, tag, always, name_key in candidates:
        rank = lookup_rank(covering, tag, always, name_key, fp_id)
        best[fp_id] = min(rank, best.get(fp_id, rank))
    return sorted(best.values())[:limit]


def in_force(entry: Record, now: datetime) -> bool:
    def moment(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    valid_from, valid_to = moment(entry.get("valid_from")), moment(entry.get("valid_to"))
    return (entry.get("active", True) and (valid_from is None or valid_from <= now)
            and (valid_to is None or valid_to > now))


def lookup_message(country: str, topic: str, area_name: str | None, matched: bool | None,
                   found: bool) -> str:
    if not found:
        where = f" for {area_name} or nationally" if area_name else ""
        return f"No focal point of {country} is listed for {topic}{where}."
    if area_name is None:
        return f"National focal points of {country} for {topic}."
    if matched:
        return f"Focal points covering {area_name} first, then national ones."
    return (f"No focal point of {country} covers {area_name} for {topic}; these are the "
            f"national focal points.")


class RecordSearch:
    """Search and lookup over the directory's records in memory (a gateway's snapshot):
    `records` maps each collection (countries, areas, institutions, focal_points) to its
    records by id."""

    def __init__(self, records: Mapping[str, Mapping[str, Record]]) -> None:
        self.records = records

    def area(self, area_id: str) -> Record | None:
        return self.records["areas"].get(area_id)

    def institution(self, institution_id: str) -> Record | None:
        return self.records["institutions"].get(institution_id)

    def areas(self, q: str, country: str | None = None) -> list[Record]:
        terms = search_terms(q)
        found = [a for a in self.records["areas"].values()
                 if a.get("active", True) and (country is None or a["country"] == country)
                 and matches(terms, area_search_text(a))]
        return sorted(found, key=lambda a: (a["country"], fold(a["name"]), a["id"]))

    def institutions(self, q: str, country: str | None = None) -> list[Record]:
        """Active institutions matching every word, in the directory's order (country, name,
        id)."""
        terms = search_terms(q)
        countries = self.records["countries"]
        found = [i for i in self.records["institutions"].values()
                 if i.get("active", True) and (country is None or i["country"] == country)
                 and matches(terms, institution_search_text(i, countries.get(i["country"])))]
        return sorted(found, key=lambda i: (i["country"], fold(i["name"]), i["id"]))

    def focal_points_of(self, institution_id: str, now: datetime) -> list[Record]:
        found = [fp for fp in self.records["focal_points"].values()
                 if fp["institution_id"] == institution_id and in_force(fp, now)]
        return sorted(found, key=lambda fp: (not fp.get("available_24_7"), fold(fp["name"]),
                                             fp["id"]))

    def lookup(self, country: str, topic: str, area_id: str | None, language: str | None,
               now: datetime, limit: int = 10) -> dict[str, Any]:
        """As the directory's `GET /v1/focal-points/lookup` answers (the same ranking)."""
        area = self.area(area_id) if area_id else None
        chain = [a["id"] for a in area_chain(area["id"], self.area)] if area else []
        covering = [*chain, country]
        candidates = []
        for fp in self.records["focal_points"].values():
            institution = self.institution(fp["institution_id"])
            if (institution is None or institution["country"] != country
                    or not institution.get("active", True) or not in_force(fp, now)
                    or topic not in fp["topics"]
                    or (language and language not in fp.get("languages", []))):
                continue
            candidates += [(fp["id"], tag, bool(fp.get("available_24_7")), fold(fp["name"]))
                           for tag in coverage(fp, institution) if tag in covering]
        results = []
        for rank, (distance, *_, fp_id) in enumerate(best_ranks(candidates, covering, limit),
                                                     start=1):
            fp = self.records["focal_points"][fp_id]
            results.append({
                "rank": rank, "coverage": "area" if distance < len(chain) else "national",
                "covered_area": chain[distance] if distance < len(chain) else None,
                "focal_point": fp, "institution": self.institution(fp["institution_id"]),
            })
        matched = any(r["coverage"] == "area" for r in results) if area else None
        return {"country": country, "topic": topic, "area": area, "area_matched": matched,
                "results": results,
                "message": lookup_message(country, topic, area["name"] if area else None,
                                          matched, bool(results))}
