"""The tracing scorer (services/exchange/tracing/matching.py): one test per rule, and the
people it must keep apart. Every name is fictitious."""

from __future__ import annotations

from datetime import date

from services.exchange.referrals.schemas import ChildIdentity, Family, FamilyContact
from services.exchange.tracing.matching import (
    FIELDS,
    AgeEstimate,
    Band,
    Candidate,
    Match,
    PersonDescription,
    Relative,
    SoughtPerson,
    Verdict,
    blocking_keys,
    score,
)

TODAY = date(2026, 12, 1)
A, D, M = Verdict.agrees, Verdict.differs, Verdict.missing
MOTHER = (Relative("mother", "Rosa Elena Castillo Ruiz"),)


def person(given: str = "Ana Lucía", family: str = "Ramírez Soto",
           **kw: object) -> PersonDescription:
    values: dict[str, object] = {"sex": "female", "date_of_birth": date(2012, 5, 14),
                                 "relatives": MOTHER}
    values.update(kw)
    return PersonDescription(given_names=given, family_names=family, **values)  # type: ignore[arg-type]


def verdicts(match: Match, **expected: Verdict) -> None:
    assert {name: match.fields[name] for name in expected} == expected


def test_exact_record_is_likely_and_every_field_agrees() -> None:
    match = score(person(), person(), TODAY)
    assert match.score == 1.0
    assert match.band is Band.likely
    assert match.fields == dict.fromkeys(FIELDS, A)
    assert list(match.fields) == list(FIELDS)


def test_accents_and_case_do_not_matter() -> None:
    match = score(person("ANA LUCIA", "RAMIREZ SOTO"), person("Ána Lucía", "Ramírez  Sóto"), TODAY)
    assert match.score == 1.0
    assert match.band is Band.likely


def test_swapped_surnames_agree() -> None:
    match = score(person(family="Ramírez Soto"), person(family="Soto Ramírez"), TODAY)
    verdicts(match, family_names=A)
    assert match.band is Band.likely
    assert match.score < 1.0


def test_missing_maternal_surname_agrees() -> None:
    match = score(person(family="Ramírez Soto"), person(family="Ramírez"), TODAY)
    verdicts(match, family_names=A)
    assert match.band is Band.likely


def test_surname_particles_are_ignored() -> None:
    match = score(person(family="de la Cruz y Soto"), person(family="Cruz Soto"), TODAY)
    verdicts(match, family_names=A)
    assert match.score == 1.0


def test_compound_given_name_against_its_first_name_agrees() -> None:
    match = score(person("José María", sex="male"), person("José", sex="male"), TODAY)
    verdicts(match, given_names=A)
    assert match.band is Band.likely


def test_known_by_the_second_given_name_agrees() -> None:
    match = score(person("María Guadalupe"), person("Guadalupe"), TODAY)
    verdicts(match, given_names=A)
    assert match.band is Band.likely


def test_maria_jose_and_jose_maria_are_not_the_same_given_names() -> None:
    match = score(person("María José", sex="female"), person("José María", sex="male"), TODAY)
    verdicts(match, given_names=D, sex=D, family_names=A)
    assert match.band is not Band.likely


def test_nicknames_meet_their_names() -> None:
    pairs = [("José María", "Chema"), ("Guadalupe", "Lupe"), ("Francisco", "Pancho"),
             ("Paco", "Pancho"), ("José", "Pepe"), ("Jesús", "Chucho"), ("Ignacio", "Nacho"),
             ("Concepción", "Conchita"), ("Dolores", "Lola"), ("Rosario", "Chayo"),
             ("Enrique", "Quique"), ("Alejandro", "Alex"), ("Manuel", "Manolo"),
             ("Refugio", "Cuca"), ("Luis", "Lucho")]
    for full, nickname in pairs:
        match = score(person(full), person(nickname), TODAY)
        assert (full, match.fields["given_names"], match.band) == (full, A, Band.likely)


def test_a_nickname_among_other_names_counts() -> None:
    sought = person("Lupe", other_names=("La Güera",))
    match = score(sought, person("María Guadalupe"), TODAY)
    verdicts(match, given_names=A)


def test_spelling_variants_b_v_silent_h_ll_y_s_z_c_g_j_qu_k_x_j() -> None:
    pairs = [("Valeria", "Baleria"), ("Héctor", "Éctor"), ("Yolanda", "Llolanda"),
             ("Cecilia", "Sesilia"), ("Zoila", "Soila"), ("Gerardo", "Jerardo"),
             ("Joaquín", "Joakín"), ("Ximena", "Jimena")]
    for a, b in pairs:
        match = score(person(a), person(b), TODAY)
        assert (a, match.fields["given_names"], match.score) == (a, A, 1.0)
    surnames = score(person(family="Villalobos Hernández"), person(family="Biyalobos Ernández"),
                     TODAY)
    assert (surnames.fields["family_names"], surnames.score) == (A, 1.0)
    place = score(person(family="Méxica"), person(family="Méjica"), TODAY)
    assert place.fields["family_names"] is A


def test_indigenous_transliterations_meet() -> None:
    for a, b in [("Xóchitl", "Sochitl"), ("Itzel", "Itsel"), ("Kukulkán", "Cuculcán"),
                 ("Citlali", "Sitlali"), ("Nayeli", "Nallely")]:
        match = score(person(a), person(b), TODAY)
        assert (a, match.fields["given_names"], match.score) == (a, A, 1.0)
    surnames = score(person(family="Huitz Chávez"), person(family="Witz Shávez"), TODAY)
    assert (surnames.fields["family_names"], surnames.score) == (A, 1.0)


def test_one_typo_agrees_but_another_surname_of_the_same_ending_differs() -> None:
    verdicts(score(person(family="Castillo Ramírez"), person(family="Castilo Ramirez"), TODAY),
             family_names=A)
    verdicts(score(person(family="Martínez"), person(family="Ramírez"), TODAY), family_names=D)
    verdicts(score(person("Josefa"), person("José"), TODAY), given_names=D)


def test_day_and_month_swapped_agree() -> None:
    match = score(person(date_of_birth=date(2012, 5, 7)), person(date_of_birth=date(2012, 7, 5)),
                  TODAY)
    verdicts(match, date_of_birth=A, age=A)
    assert match.band is Band.likely


def test_year_off_by_one_agrees_and_only_year_known_agrees() -> None:
    off = score(person(date_of_birth=date(2012, 5, 14)), person(date_of_birth=date(2013, 5, 14)),
                TODAY)
    verdicts(off, date_of_birth=A, age=A)
    year = score(person(date_of_birth=None, year_of_birth=2012), person(), TODAY)
    verdicts(year, date_of_birth=A, age=A)
    assert year.band is Band.likely


def test_estimated_age_range_against_date_of_birth() -> None:
    # Sought: "was about 9 or 10 when we were separated on 1 March 2023": born 2012 or 2013.
    sought = person(date_of_birth=None,
                    estimated_age=AgeEstimate(9, 10, on=date(2023, 3, 1)))
    match = score(sought, person(date_of_birth=date(2012, 5, 14)), TODAY)
    verdicts(match, age=A, date_of_birth=M)
    assert match.band is Band.likely
    too_young = score(sought, person(date_of_birth=date(2018, 5, 14)), TODAY)
    verdicts(too_young, age=D, date_of_birth=M)
    assert too_young.band is not Band.likely


def test_estimated_age_without_a_date_is_taken_today() -> None:
    sought = person(date_of_birth=None, estimated_age=AgeEstimate(14, 14))
    verdicts(score(sought, person(date_of_birth=date(2012, 5, 14)), TODAY), age=A)
    verdicts(score(sought, person(date_of_birth=date(2020, 5, 14)), TODAY), age=D)


def test_common_surnames_of_different_people_are_not_likely() -> None:
    other = person("María", "Pérez López", date_of_birth=date(2009, 2, 3),
                   relatives=(Relative("mother", "Juana Pérez Mejía"),))
    match = score(person("María", "García López"), other, TODAY)
    verdicts(match, given_names=A, family_names=D, date_of_birth=D, age=D, relatives=D)
    assert match.band is None
    # Even born on the same day and with no relatives to tell: at most possible.
    twin = score(person("María", "García López", relatives=()),
                 person("María", "Pérez López", relatives=()), TODAY)
    verdicts(twin, family_names=D, date_of_birth=A)
    assert twin.band is Band.possible


def test_siblings_are_not_likely() -> None:
    sister = person("Ana Lucía", "Ramírez Soto", date_of_birth=date(2012, 5, 14))
    brother = person("Carlos Andrés", "Ramírez Soto", sex="male",
                     date_of_birth=date(2008, 11, 2))
    match = score(sister, brother, TODAY)
    verdicts(match, given_names=D, family_names=A, sex=D, age=D, date_of_birth=D, relatives=A)
    assert match.band is None
    # A sister of the same sex and close in age: the given names still keep them apart.
    close = score(sister, person("Daniela", "Ramírez Soto", date_of_birth=date(2013, 6, 1)),
                  TODAY)
    verdicts(close, given_names=D, family_names=A, sex=A, age=A, relatives=A)
    assert close.band is not Band.likely


def test_brother_and_sister_of_gendered_names_differ() -> None:
    match = score(person("Daniela"), person("Daniel", sex="male"), TODAY)
    verdicts(match, given_names=D, sex=D)
    assert match.band is not Band.likely


def test_sex_that_differs_lowers_and_forbids_likely() -> None:
    same = score(person(), person(), TODAY)
    other = score(person(), person(sex="male"), TODAY)
    verdicts(other, sex=D, given_names=A, family_names=A)
    assert other.score < same.score
    assert other.score == 0.9
    assert (same.band, other.band) == (Band.likely, Band.possible)


def test_missing_fields_count_neither_way() -> None:
    bare = person(sex="unknown", relatives=())
    match = score(bare, person(), TODAY)
    verdicts(match, sex=M, relatives=M, given_names=A, date_of_birth=A)
    assert match.score == 1.0
    assert match.band is Band.likely


def test_names_alone_are_at_most_possible() -> None:
    match = score(person(date_of_birth=None, relatives=()), person(), TODAY)
    verdicts(match, age=M, date_of_birth=M, relatives=M)
    assert (match.score, match.band) == (1.0, Band.possible)


def test_no_names_compared_is_no_match() -> None:
    match = score(PersonDescription(sex="female", date_of_birth=date(2012, 5, 14)), person(),
                  TODAY)
    assert (match.score, match.band) == (0.0, None)
    verdicts(match, given_names=M, family_names=M, sex=A)


def test_relatives_names_and_relationships() -> None:
    sought = person(relatives=(Relative("mother", "Rosa Castillo"),))
    verdicts(score(sought, person(), TODAY), relatives=A)
    stranger = person(relatives=(Relative("mother", "Juana Pérez Mejía"),))
    verdicts(score(sought, stranger, TODAY), relatives=D)
    nickname = person(relatives=(Relative("father", "Pancho Ramírez"),))
    father = person(relatives=(Relative("father", "Francisco Ramírez Gil"),))
    verdicts(score(nickname, father, TODAY), relatives=A)


def test_deterministic_and_within_bounds() -> None:
    a, b = person("Chema", "de la Cruz"), person("José María", "Cruz Xol", sex="male")
    matches = {score(a, b, TODAY) == score(a, b, TODAY) for _ in range(3)}
    assert matches == {True}
    assert 0.0 <= score(a, b, TODAY).score <= 1.0


def test_a_registration_record_becomes_a_candidate() -> None:
    child = ChildIdentity(given_names="Ana Lucía", family_names="Ramírez Soto", sex="female",
                          estimated_age=14, age_is_estimated=True)
    family = Family(relatives=[FamilyContact(relationship="mother", name="Rosa Castillo")])
    candidate: Candidate = PersonDescription.from_record(child, family,
                                                         estimated_on=date(2026, 11, 18))
    assert candidate.estimated_age == AgeEstimate(14, 14, date(2026, 11, 18))
    assert candidate.date_of_birth is None
    sought: SoughtPerson = person()
    match = score(sought, candidate, TODAY)
    verdicts(match, age=A, date_of_birth=M, relatives=A, sex=A)
    assert match.band is Band.likely


def test_blocking_keys_meet_across_spellings_and_order() -> None:
    assert blocking_keys(person(family="Hernández Vázquez")) == {"ern", "bas"}
    assert blocking_keys(person(family="Bázquez Ernández")) == {"ern", "bas"}


def test_an_estimated_date_of_birth_in_a_record_counts_as_its_year() -> None:
    child = ChildIdentity(given_names="Ana Lucía", family_names="Ramírez Soto", sex="female",
                          date_of_birth=date(2012, 1, 1), age_is_estimated=True)
    candidate = PersonDescription.from_record(child)
    assert (candidate.date_of_birth, candidate.year_of_birth, candidate.estimated_age) == (
        None, 2012, None)
    match = score(person(), candidate, TODAY)
    verdicts(match, date_of_birth=A, age=A, relatives=M)
