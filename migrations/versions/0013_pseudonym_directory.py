"""``pseudonyms``: a program's pseudonyms indexed, so naming a person by one does not scan.

A program that reads ``Person.nik`` as PSEUDONYM (dinkes-pbi) names persons by that token in
``reportAssistance`` and in ``proposeChange`` (REACTIVATE). The token is HMAC-SHA256 of the
NIK under the program's key, which only the gateway holds, so PostgreSQL cannot index it:
resolving one computed the token of every person in the program's scope, 21 s at 1,000,000
households and 214 s at 10,000,000, far past the 5 s statement timeout.

``pseudonyms`` holds, per program, the first 8 bytes of each token in its person scope (as a
``bigint``) with the person's id: a lookup finds the candidates by index, and the gateway's
statement then checks the whole token and the program's scope on those rows only, exactly as
before. The tokens' prefixes are no more than the program already receives in its answers.

``pseudonym_directories`` says what each program's directory was built against
(``schema.pseudonym_directory``): the registry's releases (and the day, when the program's
person scope depends on ages) and a check value of the program's key. A directory built for
an earlier release still answers the persons it lists while ``regsosek worker`` rebuilds it
(each release queues that job); only the tokens it does not resolve are looked for the old
way (correct, slow). One built under another key is not used at all.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"

UPGRADE = [
    """
    CREATE TABLE pseudonyms (
        program varchar(64) NOT NULL,
        prefix bigint NOT NULL,
        person_id bigint NOT NULL
    )
    """,
    "CREATE INDEX ix_pseudonyms_program_prefix ON pseudonyms (program, prefix) INCLUDE (person_id)",
    """
    CREATE TABLE pseudonym_directories (
        program varchar(64) NOT NULL,
        version text NOT NULL,
        key_check char(64) NOT NULL,
        persons bigint NOT NULL,
        built_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT pk_pseudonym_directories PRIMARY KEY (program),
        CONSTRAINT ck_pseudonym_directories_key_check CHECK (key_check ~ '^[0-9a-f]{64}$')
    )
    """,
    *[
        statement
        for table in ("pseudonyms", "pseudonym_directories")
        for statement in (
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY regsosek_{table} ON {table} FOR ALL TO {APP_ROLE}"
            " USING (program = (SELECT current_setting('regsosek.program', true)))"
            " WITH CHECK (program = (SELECT current_setting('regsosek.program', true)))",
        )
    ],
    f"GRANT SELECT, INSERT, DELETE ON pseudonyms TO {APP_ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON pseudonym_directories TO {APP_ROLE}",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE pseudonym_directories")
    op.execute("DROP TABLE pseudonyms")
