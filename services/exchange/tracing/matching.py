"""The tracing scorer: how well one of a country's records matches a sought person.

Pure and deterministic: no I/O, no clock (the caller passes `today`). The rules, weights and
thresholds are in docs/tracing.md. Names are compared on a Spanish phonetic key (the
spelling table below), then by rapidfuzz's normalised Levenshtein similarity, so that
Méjico/México, Xochitl/Sochitl, Itzel/Itsel, Lluvia/Yubia and Hernández/Ernández meet and a
typo costs little; nicknames are expanded from a table.

Only `Match.fields` (field name -> verdict, no values) may go back across the border.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from rapidfuzz.distance import Levenshtein

if TYPE_CHECKING:
    from services.exchange.referrals.schemas import ChildIdentity, Family

Sex = Literal["female", "male", "other", "unknown"]


class Verdict(StrEnum):
    agrees = "agrees"
    differs = "differs"
    missing = "missing"  # one side or both have no value: it counts neither way


class Band(StrEnum):
    likely = "likely"
    possible = "possible"


# Weights in the manner of Primero's matcher: names most, then sex, age and date of birth,
# then relatives' names. A field missing on either side leaves the sum (docs/tracing.md).
WEIGHTS: dict[str, float] = {
    "given_names": 0.30,
    "family_names": 0.25,
    "sex": 0.10,
    "age": 0.10,
    "date_of_birth": 0.10,
    "relatives": 0.15,
}
FIELDS = tuple(WEIGHTS)
NAME_FIELDS = ("given_names", "family_names")
CORROBORATING_FIELDS = ("age", "date_of_birth", "relatives")
# A `likely` is what a caseworker acts on: it needs no name, sex or age that differs, and at
# least one corroborating field that agrees, besides the score.
VETO_FIELDS = ("given_names", "family_names", "sex", "age")

LIKELY_THRESHOLD = 0.80
POSSIBLE_THRESHOLD = 0.60
AGREES_THRESHOLD = 0.75  # a field's similarity at or above it: agrees; below: differs

# Names
ONE_SURNAME_MISSING = 0.90  # "Ramírez" against "Ramírez Soto"
SURNAMES_SWAPPED = 0.95  # "Soto Ramírez" against "Ramírez Soto"
ONE_GIVEN_NAME_MISSING = 0.92  # "José" against "José María"
KNOWN_BY_LATER_NAME = 0.85  # "Guadalupe" against "María Guadalupe"
GIVEN_NAMES_SWAPPED = 0.70  # "María José" (a girl) against "José María" (a boy): differs
GENDERED_PAIR = 0.60  # "Daniel"/"Daniela", "Mario"/"María": the name of a sister or brother
# Dates
DOB_DAY_MONTH_SWAPPED = 0.90
DOB_YEAR_OFF_BY_ONE = 0.85  # same day and month, the year one off
DOB_ONLY_YEAR_SAME = 0.90  # one side knows only the year, and it is the same
DOB_ONLY_YEAR_OFF_BY_ONE = 0.75
DOB_SAME_YEAR_OTHERWISE = 0.40
AGE_TOLERANCE = timedelta(days=365)  # birth intervals this far apart still agree fully
AGE_FADE = timedelta(days=730)  # then the similarity falls to 0 over this span
ESTIMATE_MARGIN_YEARS = 1  # an estimated age N is read as N-1 .. N+1
# Relatives
RELATIONSHIP_DIFFERS = 0.80

PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "da", "di"})
ABBREVIATIONS = {"ma": "maria", "mª": "maria", "jose": "jose", "fco": "francisco"}

# Nickname (hipocorístico) -> the given names it stands for. Keys and values without accents,
# lower case; a value may be two names ("chema" is José María).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "chema": ("jose maria",),
    "chemo": ("jose maria",),
    "lupe": ("guadalupe",),
    "lupita": ("guadalupe",),
    "pancho": ("francisco",),
    "paco": ("francisco",),
    "paquita": ("francisca",),
    "kiko": ("francisco", "enrique"),
    "pepe": ("jose",),
    "chepe": ("jose",),
    "pepito": ("jose",),
    "chucho": ("jesus",),
    "chuy": ("jesus",),
    "nacho": ("ignacio",),
    "concha": ("concepcion",),
    "conchita": ("concepcion",),
    "conchi": ("concepcion",),
    "lola": ("dolores",),
    "lolita": ("dolores",),
    "chayo": ("rosario",),
    "charo": ("rosario",),
    "quique": ("enrique",),
    "alex": ("alejandro", "alejandra"),
    "ale": ("alejandro", "alejandra"),
    "manolo": ("manuel",),
    "manu": ("manuel",),
    "cuca": ("refugio",),
    "cuco": ("refugio",),
    "lucho": ("luis",),
    "memo": ("guillermo",),
    "beto": ("alberto", "roberto", "humberto"),
    "tono": ("antonio",),  # Toño, once the accents and tilde are gone
    "tona": ("antonia",),
    "lalo": ("eduardo",),
    "nando": ("fernando",),
    "lencho": ("lorenzo",),
    "chelo": ("consuelo", "marcelo"),
    "tere": ("teresa",),
    "goyo": ("gregorio",),
    "licha": ("alicia",),
    "chabela": ("isabel",),
    "chalo": ("gonzalo",),
    "chente": ("vicente",),
    "toni": ("antonio",),
    "juancho": ("juan",),
    "pili": ("pilar",),
    "rafa": ("rafael",),
    "santi": ("santiago",),
    "nico": ("nicolas",),
    "gaby": ("gabriela",),
    "gabi": ("gabriela",),
    "vicky": ("victoria",),
    "mari": ("maria",),
    "marijose": ("maria jose",),
}

# The Spanish phonetic key: applied in order to a lower-case name without accents. Each
# spelling that sounds the same in the region becomes one symbol; indigenous spellings
# (Nahuatl, Mayan) too: sh/ch/x, tz/ts, k/c/qu, w/hu/gu. "S" is the sh sound, "G" a hard g.
SPELLING: tuple[tuple[str, str], ...] = (
    (r"ph", "f"),
    (r"[sc]h", "S"),
    (r"tz", "ts"),
    (r"qu(?=[ei])", "k"),
    (r"q", "k"),
    (r"gu(?=[ei])", "G"),
    (r"[hg]u(?=[aeio])", "w"),
    (r"g(?=[ei])", "j"),
    (r"c(?=[ei])", "s"),
    (r"z", "s"),
    (r"c", "k"),
    (r"ll", "y"),
    (r"y(?![aeiou])", "i"),
    (r"v", "b"),
    (r"h", ""),
    (r"G", "g"),
    (r"(.)\1+", r"\1"),
)
_SPELLING = tuple((re.compile(pattern), repl) for pattern, repl in SPELLING)
# "x" sounds j (México), s (Xochimilco in Spanish), sh (Xochitl in Nahuatl) or ks (Alexis):
# a name with an x has one key per reading (at most the first MAX_X x's are read so).
X_READINGS = ("j", "s", "S", "ks")
MAX_X = 2


@dataclass(frozen=True)
class AgeEstimate:
    """An age in whole years, low..high, on a date (of separation, of registration); no date
    means the day of the matching."""

    low: int
    high: int
    on: date | None = None


@dataclass(frozen=True)
class Relative:
    relationship: str
    name: str | None = None


@dataclass(frozen=True)
class PersonDescription:
    """A sought person (from a tracing request) or a candidate (a country's own record)."""

    given_names: str = ""
    family_names: str = ""
    other_names: tuple[str, ...] = ()  # other names and nicknames, each read as given names
    sex: Sex = "unknown"
    date_of_birth: date | None = None
    year_of_birth: int | None = None  # when only the year is known
    estimated_age: AgeEstimate | None = None
    relatives: tuple[Relative, ...] = field(default=())

    @classmethod
    def from_record(cls, child: ChildIdentity, family: Family | None = None,
                    estimated_on: date | None = None) -> PersonDescription:
        """A registration record as a candidate; `estimated_on` is when an estimated age was
        estimated (the detection's date, say). An estimated date of birth is taken as its year
        only, when there is no estimated age."""
        estimate = None
        if child.estimated_age is not None and (child.date_of_birth is None
                                                or child.age_is_estimated):
            estimate = AgeEstimate(child.estimated_age, child.estimated_age, estimated_on)
        dob = child.date_of_birth
        stated = None if child.age_is_estimated else dob
        year = dob.year if dob is not None and child.age_is_estimated and estimate is None else None
        return cls(
            given_names=child.given_names, family_names=child.family_names,
            other_names=tuple(child.other_names), sex=child.sex,
            date_of_birth=stated, year_of_birth=year, estimated_age=estimate,
            relatives=tuple(Relative(r.relationship, r.name)
                            for r in (family.relatives if family else [])),
        )


SoughtPerson = PersonDescription
Candidate = PersonDescription


@dataclass(frozen=True)
class Match:
    score: float  # in [0, 1], rounded to 3 places
    band: Band | None
    fields: dict[str, Verdict]  # every field of FIELDS, in that order; no values


def score(sought: PersonDescription, candidate: PersonDescription, today: date) -> Match:
    similarities: dict[str, float | None] = {
        "given_names": _given_names_similarity(_given_name_forms(sought),
                                               _given_name_forms(candidate)),
        "family_names": _surnames_similarity(_tokens(sought.family_names),
                                             _tokens(candidate.family_names)),
        "sex": _sex_similarity(sought.sex, candidate.sex),
        "age": _age_similarity(_birth_interval(sought, today), _birth_interval(candidate, today)),
        "date_of_birth": _dob_similarity(sought, candidate),
        "relatives": _relatives_similarity(sought.relatives, candidate.relatives),
    }
    verdicts = {name: _verdict(s) for name, s in similarities.items()}
    present = {name: s for name, s in similarities.items() if s is not None}
    if not any(name in present for name in NAME_FIELDS):
        return Match(0.0, None, verdicts)
    total = sum(WEIGHTS[name] for name in present)
    value = round(sum(WEIGHTS[name] * s for name, s in present.items()) / total, 3)
    return Match(value, _band(value, verdicts), verdicts)


def _verdict(similarity: float | None) -> Verdict:
    if similarity is None:
        return Verdict.missing
    return Verdict.agrees if similarity >= AGREES_THRESHOLD else Verdict.differs


def _band(value: float, verdicts: dict[str, Verdict]) -> Band | None:
    vetoed = any(verdicts[name] is Verdict.differs for name in VETO_FIELDS)
    corroborated = any(verdicts[name] is Verdict.agrees for name in CORROBORATING_FIELDS)
    if value >= LIKELY_THRESHOLD and not vetoed and corroborated:
        return Band.likely
    if value >= POSSIBLE_THRESHOLD:
        return Band.possible
    return None


# --- names -------------------------------------------------------------------------------

Token = tuple[str, ...]  # the phonetic keys of one name (several when it has an x)
Name = tuple[Token, ...]


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("gü", "w"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Names repeat across a country's records: the words, keys and forms of a name are cached by
# its text (benchmarks/tracing_bench.py).
@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    words = [ABBREVIATIONS.get(w, w) for w in re.findall(r"[a-zñ]+", _plain(text))]
    return tuple(w for w in words if w not in PARTICLES)


@lru_cache(maxsize=65536)
def phonetic_keys(word: str) -> Token:
    """The keys of one word (already plain: lower case, no accents), one per reading of x."""
    readings = [""]
    for n, part in enumerate(word.split("x")):
        if n == 0:
            readings = [part]
        elif n <= MAX_X:
            readings = [r + x + part for r in readings for x in X_READINGS]
        else:
            readings = [r + "ks" + part for r in readings]
    keys = []
    for reading in readings:
        key = reading
        for pattern, repl in _SPELLING:
            key = pattern.sub(repl, key)
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


@lru_cache(maxsize=65536)
def _tokens(text: str) -> Name:
    return tuple(t for t in (phonetic_keys(w) for w in _words(text)) if t)


def _given_name_forms(person: PersonDescription) -> tuple[Name, ...]:
    """The given names, the other names, and each with its nicknames expanded."""
    forms: list[Name] = []
    for text in (person.given_names, *person.other_names):
        forms.extend(name for name in _name_forms(text) if name not in forms)
    return tuple(forms)


@lru_cache(maxsize=65536)
def _name_forms(text: str) -> tuple[Name, ...]:
    choices = [[w, *NICKNAMES.get(w, ())] for w in _words(text)]
    forms: list[Name] = []
    for combination in itertools.islice(itertools.product(*choices), 8):
        name = _tokens(" ".join(combination))
        if name and name not in forms:
            forms.append(name)
    return tuple(forms)


@lru_cache(maxsize=262144)
def _word_similarity(a: Token, b: Token) -> float:
    best = 0.0
    for ka in a:
        for kb in b:
            if ka == kb:
                return 1.0
            if _gendered_pair(ka, kb):
                s = GENDERED_PAIR
            else:
                s = Levenshtein.normalized_similarity(ka, kb)
            best = max(best, s)
    return best


def _gendered_pair(a: str, b: str) -> bool:
    """Daniel/Daniela, Francisco/Francisca, Juan/Juana: a brother's and a sister's names."""
    if len(a) < 3 or len(b) < 3:
        return False
    if a[:-1] == b[:-1] and {a[-1], b[-1]} == {"a", "o"}:
        return True
    return (a + "a" == b) or (b + "a" == a)


def _combine(similarities: Sequence[float]) -> float:
    """Every name must match: the mean, pulled halfway down to the worst."""
    return 0.5 * (sum(similarities) / len(similarities)) + 0.5 * min(similarities)


@lru_cache(maxsize=65536)
def _given_names_similarity(a_forms: tuple[Name, ...], b_forms: tuple[Name, ...]) -> float | None:
    if not a_forms or not b_forms:
        return None
    return max(_given_similarity(a, b) for a in a_forms for b in b_forms)


def _given_similarity(a: Name, b: Name) -> float:
    short, long = sorted((a[:4], b[:4]), key=len)
    if len(short) == 1:
        if len(long) == 1:
            return _word_similarity(short[0], long[0])
        first = _word_similarity(short[0], long[0]) * ONE_GIVEN_NAME_MISSING
        later = max(_word_similarity(short[0], w) for w in long[1:]) * KNOWN_BY_LATER_NAME
        return max(first, later)
    in_order = _combine([_word_similarity(x, y) for x, y in zip(short, long, strict=False)])
    if len(long) > len(short):
        in_order *= ONE_GIVEN_NAME_MISSING
    crossed = max((_combine([_word_similarity(x, y) for x, y in zip(short, p, strict=True)])
                   for p in itertools.permutations(long, len(short))), default=0.0)
    return max(in_order, crossed * GIVEN_NAMES_SWAPPED)


@lru_cache(maxsize=65536)
def _surnames_similarity(a: Name, b: Name) -> float | None:
    """Paternal and maternal surnames: one may be missing, the order may be swapped."""
    if not a or not b:
        return None
    short, long = sorted((a[:4], b[:4]), key=len)
    best = 0.0
    for indices in itertools.permutations(range(len(long)), len(short)):
        s = _combine([_word_similarity(x, long[i]) for x, i in zip(short, indices, strict=True)])
        if list(indices) != sorted(indices):
            s *= SURNAMES_SWAPPED
        best = max(best, s)
    return best * (ONE_SURNAME_MISSING if len(long) > len(short) else 1.0)


# --- sex, dates, relatives ---------------------------------------------------------------


def _sex_similarity(a: Sex, b: Sex) -> float | None:
    known = ("female", "male")
    if a not in known or b not in known:
        return None
    return 1.0 if a == b else 0.0


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _birth_interval(person: PersonDescription, today: date) -> tuple[date, date] | None:
    """The earliest and latest dates the person can have been born on."""
    if person.date_of_birth is not None:
        return person.date_of_birth, person.date_of_birth
    if person.year_of_birth is not None:
        return date(person.year_of_birth, 1, 1), date(person.year_of_birth, 12, 31)
    if person.estimated_age is not None:
        estimate = person.estimated_age
        on = estimate.on or today
        low = max(0, min(estimate.low, estimate.high) - ESTIMATE_MARGIN_YEARS)
        high = max(estimate.low, estimate.high) + ESTIMATE_MARGIN_YEARS
        return _years_before(on, high + 1) + timedelta(days=1), _years_before(on, low)
    return None


def _age_similarity(a: tuple[date, date] | None, b: tuple[date, date] | None) -> float | None:
    if a is None or b is None:
        return None
    gap = max(a[0] - b[1], b[0] - a[1], timedelta(0))
    if gap <= AGE_TOLERANCE:
        return 1.0
    return max(0.0, 1.0 - (gap - AGE_TOLERANCE) / AGE_FADE)


def _dob_similarity(a: PersonDescription, b: PersonDescription) -> float | None:
    """Stated dates of birth only (an estimated age is compared as `age`)."""
    year_a = a.date_of_birth.year if a.date_of_birth else a.year_of_birth
    year_b = b.date_of_birth.year if b.date_of_birth else b.year_of_birth
    if year_a is None or year_b is None:
        return None
    if a.date_of_birth is None or b.date_of_birth is None:
        return {0: DOB_ONLY_YEAR_SAME, 1: DOB_ONLY_YEAR_OFF_BY_ONE}.get(abs(year_a - year_b), 0.0)
    x, y = a.date_of_birth, b.date_of_birth
    if x == y:
        return 1.0
    if x.year == y.year and (x.day, x.month) == (y.month, y.day):
        return DOB_DAY_MONTH_SWAPPED
    if (x.month, x.day) == (y.month, y.day) and abs(x.year - y.year) == 1:
        return DOB_YEAR_OFF_BY_ONE
    return DOB_SAME_YEAR_OTHERWISE if x.year == y.year else 0.0


@lru_cache(maxsize=65536)
def _relative_name(text: str) -> Name:
    words = _words(text)
    return tuple(t for t in (phonetic_keys(w) + _nickname_keys(w) for w in words) if t)


def _nickname_keys(word: str) -> Token:
    names = [n for n in NICKNAMES.get(word, ()) if " " not in n]
    return tuple(k for n in names for k in phonetic_keys(n))


def _relatives_similarity(a: Iterable[Relative], b: Iterable[Relative]) -> float | None:
    named_a = [(r.relationship.strip().lower(), _relative_name(r.name)) for r in a if r.name]
    named_b = [(r.relationship.strip().lower(), _relative_name(r.name)) for r in b if r.name]
    named_a = [(rel, n) for rel, n in named_a if n]
    named_b = [(rel, n) for rel, n in named_b if n]
    if not named_a or not named_b:
        return None
    best = 0.0
    for rel_a, name_a in named_a:
        for rel_b, name_b in named_b:
            s = _surnames_similarity(name_a, name_b) or 0.0
            if rel_a and rel_b and rel_a != rel_b:
                s *= RELATIONSHIP_DIFFERS
            best = max(best, s)
    return best


def blocking_keys(person: PersonDescription) -> frozenset[str]:
    """Cheap keys to find candidates before scoring: the first three letters of each surname's
    phonetic keys. A candidate sharing none is not scored (docs/tracing.md)."""
    return frozenset(k[:3] for token in _tokens(person.family_names) for k in token)
