"""Recorded field paths resolved to the field and the data subject they describe."""

from __future__ import annotations

import pytest

from audit.breach_fields import Owner, disclosed, resolve


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("households.nodes.kkNumber", ("Household", "kkNumber", Owner.HOUSEHOLD)),
        ("households.edges.node.headName", ("Household", "headName", Owner.HOUSEHOLD)),
        ("households.nodes.members.nik", ("Person", "nik", Owner.PERSON)),
        ("household.housing.tenure", ("Housing", "tenure", Owner.HOUSEHOLD)),
        ("household.region.name", ("Region", "name", Owner.HOUSEHOLD)),
        ("persons.nodes.household.kkNumber", ("Household", "kkNumber", Owner.HOUSEHOLD)),
        ("person.education.enrolled", ("Education", "enrolled", Owner.PERSON)),
        ("changes.nodes.person.nik", ("Person", "nik", Owner.PERSON)),
        ("changes.nodes.household.id", ("Household", "id", Owner.HOUSEHOLD)),
    ],
)
def test_a_path_names_its_field_and_whose_data_it_is(
    path: str, expected: tuple[str, str, Owner]
) -> None:
    field = resolve(path)
    assert field is not None
    assert (field.type_name, field.field_name, field.owner) == expected


@pytest.mark.parametrize(
    "path",
    [
        "households.totalCount",
        "households.pageInfo.endCursor",
        "households.nodes.members",
        "myAccess.program",
        "disclosures",
        "householdStats.count",
        "households.nodes.nope",
    ],
)
def test_what_is_no_subjects_data_resolves_to_nothing(path: str) -> None:
    assert resolve(path) is None


def test_each_field_keeps_the_mode_it_left_in() -> None:
    """The compiler records a field that did not leave in full as ``path[MODE]``: that is its
    mode at the time, whatever the policy says now."""
    found = disclosed(
        [
            "households.nodes.members.nik[MASKED]",
            "households.nodes.members.birthDate[MASKED]",
            "households.nodes.headName",
            "households.totalCount",
            "changes.nodes.person.nik[PSEUDONYM]",
        ]
    )
    assert [(item.path, item.mode, item.owner) for item in found] == [
        ("households.nodes.members.nik", "MASKED", Owner.PERSON),
        ("households.nodes.members.birthDate", "MASKED", Owner.PERSON),
        ("households.nodes.headName", "FULL", Owner.HOUSEHOLD),
        ("changes.nodes.person.nik", "PSEUDONYM", Owner.PERSON),
    ]
