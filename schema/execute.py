"""Run one GraphQL operation for one program.

The fast path: cached parse and validation → field collection → each root
field's cached SQL → one read transaction → PostgreSQL's JSON text spliced
into ``{"data": …}``. Nothing per row is a Python object.

Roots computed in Python (``myAccess``, ``householdStats``, the auditors'
fields) are projected onto their selection. Operations that ask for
introspection (``__schema``, ``__type``) run through graphql-core over the
program's Strawberry schema, whose root resolvers use the same compiler; that
is the only fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import orjson
from graphql import (
    GraphQLError,
    GraphQLField,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_argument_values,
    get_variable_values,
)
from graphql.execution.values import VariableValues
from strawberry.types import Info

from db.failures import as_gateway_error, failure_kind
from errors import BadInput, Forbidden, GatewayError, Internal, QueryTooComplex
from policies import PolicySet, Program, Purpose
from schema.build import build_strawberry_schema
from schema.compiler.objects import CompileContext
from schema.compiler.roots import ROOTS, Prepared
from schema.compiler.selection import Collected, collect_fields, sub_selections
from schema.compiler.statement import CompiledStatement, compile_statement
from schema.documents import BoundedCache, ParsedDocument, clean_message, prepare_document
from schema.embed import embed_households, find_refs
from schema.limits import DEFAULT_LIMITS, PROGRAM_LIMITS, Limits
from schema.project import project
from schema.sealed_cursors import CursorKeys

INTROSPECTION = frozenset({"__schema", "__type"})


@dataclass
class Disclosure:
    """What one request disclosed: the audit event's substance."""

    household_ids: set[int] = field(default_factory=set)
    person_ids: set[int] = field(default_factory=set)
    field_paths: set[str] = field(default_factory=set)

    def add(
        self, statement: CompiledStatement, hids: list[int] | None, pids: list[int] | None
    ) -> None:
        if hids:
            self.household_ids.update(hids)
        if pids:
            self.person_ids.update(pids)
        if hids or pids or statement.field_paths:
            self.field_paths.update(statement.field_paths)

    def add_subject(self, field: str, subject: Subject) -> None:
        """A value root's data subject: the ids its answer named, under the root's name."""
        household_ids, person_ids = subject
        if household_ids or person_ids:
            self.household_ids.update(household_ids)
            self.person_ids.update(person_ids)
            self.field_paths.add(field)

    @property
    def rows(self) -> int:
        return len(self.household_ids) + len(self.person_ids)


Subject = tuple[list[int], list[int]]
"""Household ids and person ids a value root's answer is about."""


@dataclass(frozen=True)
class Caller:
    """Who asks: the client, its program as the request's purpose narrows it, the purpose
    (None: the agreement's single purpose) and the case reference the request named."""

    client_id: str
    program: Program
    purpose: Purpose | None = None
    case_ref: str | None = None


@dataclass
class Execution:
    """The outcome of one operation: the response body, or an error; and the disclosure."""

    body: bytes | None = None
    error: GatewayError | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    operation_name: str | None = None
    document_hash: str | None = None
    disclosure: Disclosure = field(default_factory=Disclosure)
    pending: PendingWrite | None = None
    """A mutation's uncommitted writes: the edge commits them after the audit event, or
    rolls them back."""


class ValueRoot(Protocol):
    """A root field whose value is computed in Python (full object, keyed by field name).

    A root whose answer is about particular households or persons (an auditor's lookup of
    a data subject) also has ``subject(value, args) -> (household_ids, person_ids)``; those
    ids are then recorded as disclosed by the request, like a compiled root's rows. A root
    whose answer names households by ``schema.embed.HouseholdRef`` says
    ``embeds_households = True``.
    """

    needs_database: bool

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any: ...


def _record_subject(
    disclosure: Disclosure, root: ValueRoot, field: str, value: Any, args: Mapping[str, Any]
) -> None:
    subject = getattr(root, "subject", None)
    if subject is not None:
        disclosure.add_subject(field, subject(value, args))


class PendingWrite(Protocol):
    """A mutation's open transaction on the primary (the program set for it): committed by
    the edge only once the request's audit event is (no audit event, no write)."""

    connection: asyncpg.Connection

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Writer(Protocol):
    async def begin(self, program: str) -> PendingWrite: ...


class Reader(Protocol):
    def transaction(self, program: str) -> Any: ...

    async def fetch(self, statements: Any) -> list[Any]: ...


@dataclass(frozen=True)
class FixedPlan:
    """A root whose answer is known without reading (``__typename``, an empty page)."""

    key: str
    text: bytes


@dataclass(frozen=True)
class StatementPlan:
    """A root compiled to one SQL statement."""

    key: str
    statement: CompiledStatement
    prepared: Prepared


@dataclass(frozen=True)
class ValuePlan:
    """A root computed in Python (``ValueRoot``), projected onto its selection."""

    key: str
    root: ValueRoot
    args: dict[str, Any]
    field_def: GraphQLField
    collected: Collected


Plan = FixedPlan | StatementPlan | ValuePlan


@dataclass
class Fetched:
    """What the database answered: the statements' rows, or the open read transaction."""

    connection: asyncpg.Connection | None = None
    rows: dict[int, Any] = field(default_factory=dict)


class ProgramRuntime:
    """A program's schema and its caches of documents and compiled statements."""

    def __init__(self, program: Program, *, engine: Engine) -> None:
        self.program = program
        self.strawberry = build_strawberry_schema(program, engine.resolve_in_fallback)
        self.graphql = self.strawberry._schema
        self.documents: BoundedCache[str, ParsedDocument] = BoundedCache(512)
        self.trusted: dict[str, ParsedDocument] = {}
        self.statements: BoundedCache[tuple[Any, ...], CompiledStatement] = BoundedCache(2048)
        self.limits = engine.limits_for(program.name)
        self.cursor_keys = engine.cursor_keys.for_program(program.name)

    def trusted_document(self, text: str) -> ParsedDocument:
        """A registered document, parsed and validated once for this schema (this policy):
        kept for the runtime's life, never evicted by ad-hoc documents."""
        parsed = self.trusted.get(text)
        if parsed is None:
            parsed = prepare_document(text, self.graphql, self.limits)
            self.trusted[text] = parsed
        return parsed

    def document(self, text: str) -> ParsedDocument:
        parsed = self.documents.get(text)
        if parsed is None:
            parsed = self.documents.put(text, prepare_document(text, self.graphql, self.limits))
        return parsed


class Engine:
    """Executes operations for every program of the current policy set."""

    def __init__(
        self,
        *,
        reader: Reader,
        pseudonym_key: bytes,
        cursor_keys: CursorKeys,
        value_roots: Mapping[str, ValueRoot],
        limits: Limits | None = None,
        program_limits: Mapping[str, Limits] | None = None,
        writer: Writer | None = None,
        mutation_roots: Mapping[str, ValueRoot] | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.mutation_roots = dict(mutation_roots or {})
        self.pseudonym_key = pseudonym_key
        self.cursor_keys = cursor_keys
        self.value_roots = dict(value_roots)
        self.limits = limits or DEFAULT_LIMITS
        self.program_limits = dict(PROGRAM_LIMITS if program_limits is None else program_limits)
        self.runtimes: dict[str, ProgramRuntime] = {}
        self.purpose_runtimes: dict[tuple[str, str], ProgramRuntime] = {}
        """The runtimes of purposes that narrow their program's fields (their own schema)."""

    def limits_for(self, program: str) -> Limits:
        """The program's own limits, or the engine's defaults."""
        return self.program_limits.get(program, self.limits)

    def load(self, policies: PolicySet) -> None:
        """Build every program's schema; swap them in at once (policy reload)."""
        runtimes = {
            name: ProgramRuntime(program, engine=self)
            for name, program in policies.programs.items()
        }
        self.purpose_runtimes = {
            (name, purpose.code): ProgramRuntime(program.under(purpose), engine=self)
            for name, program in policies.programs.items()
            for purpose in program.purposes
            if purpose.narrows
        }
        self.runtimes = runtimes

    def runtime(self, caller: Caller) -> ProgramRuntime:
        """The runtime (schema, caches) of the caller's program under its purpose."""
        purpose = caller.purpose
        if purpose is not None and purpose.narrows:
            return self.purpose_runtimes[(caller.program.name, purpose.code)]
        return self.runtimes[caller.program.name]

    async def execute(
        self,
        caller: Caller,
        *,
        query: str,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        trusted: bool = False,
    ) -> Execution:
        """Run ``query``; ``trusted``: a registered document (validated once per policy; one
        that no longer validates under the policy in force is FORBIDDEN)."""
        outcome = Execution(operation_name=operation_name)
        try:
            runtime = self.runtime(caller)
            parsed = runtime.trusted_document(query) if trusted else runtime.document(query)
            outcome.document_hash = parsed.text_hash
            if parsed.document is None and trusted:
                raise Forbidden(
                    "This registered document no longer validates under your program's policy"
                    " in force; `regsosek policy check` lists it. Register it again once fixed."
                )
            if parsed.document is None:
                outcome.messages = [_message(error) for error in parsed.errors]
                kind = QueryTooComplex if parsed.error_code == "QUERY_TOO_COMPLEX" else BadInput
                outcome.error = kind(outcome.messages[0]["message"])
                return outcome
            operation = _operation(parsed, operation_name)
            outcome.operation_name = operation.name.value if operation.name else operation_name
            coerced = get_variable_values(
                runtime.graphql,
                operation.variable_definitions or (),
                dict(variables or {}),
                max_errors=10,
                hide_suggestions=True,
            )
            if isinstance(coerced, list):
                outcome.messages = [_message(error) for error in coerced]
                outcome.error = BadInput(outcome.messages[0]["message"])
                return outcome
            cost = parsed.cost(runtime.graphql, operation, variables=coerced.coerced)
            most = runtime.limits
            if cost > most.max_cost:
                raise QueryTooComplex(
                    f"The query could return about {cost:,} values, more than the"
                    f" {most.max_cost:,} your program may ask for at once: ask for fewer rows"
                    " (`first`) or fewer nested lists."
                )
            mutation = operation.operation is OperationType.MUTATION
            roots = collect_fields(
                type_name="Mutation" if mutation else "Query",
                selection_sets=(operation.selection_set,),
                fragments=parsed.fragments,
                variables=coerced.coerced,
            )
            if mutation:
                await self._mutate(
                    caller=caller,
                    runtime=runtime,
                    parsed=parsed,
                    variables=coerced,
                    roots=roots,
                    outcome=outcome,
                )
            elif any(root.field_name in INTROSPECTION for root in roots):
                await self._fallback(caller, runtime, parsed, operation, variables, outcome)
            else:
                await self._fast(
                    caller=caller,
                    runtime=runtime,
                    parsed=parsed,
                    operation=operation,
                    variables=coerced,
                    roots=roots,
                    outcome=outcome,
                )
        except GatewayError as error:
            outcome.error = error
            outcome.body = None
        except Exception as error:
            answer = as_gateway_error(error)
            if answer is None:
                raise
            outcome.error = answer
            outcome.body = None
        return outcome

    async def _mutate(
        self,
        *,
        caller: Caller,
        runtime: ProgramRuntime,
        parsed: ParsedDocument,
        variables: VariableValues,
        roots: list[Collected],
        outcome: Execution,
    ) -> None:
        """Each root of a mutation in turn, in one write transaction left open for the edge
        (``Execution.pending``); any error rolls everything back."""
        mutation_type = runtime.graphql.mutation_type
        if self.writer is None or mutation_type is None:
            raise BadInput("Only queries are served.")
        pending = await self.writer.begin(caller.program.name)
        try:
            parts = []
            for root in roots:
                if root.field_name == "__typename":
                    parts.append(orjson.dumps(root.response_key) + b':"Mutation"')
                    continue
                field_def = mutation_type.fields[root.field_name]
                plan = ValuePlan(
                    root.response_key,
                    self.mutation_roots[root.field_name],
                    _arguments(field_def, root, variables),
                    field_def,
                    root,
                )
                text = await self._assemble(
                    plan,
                    caller=caller,
                    fetched=Fetched(connection=pending.connection),
                    parsed=parsed,
                    variables=variables,
                    disclosure=outcome.disclosure,
                )
                parts.append(orjson.dumps(root.response_key) + b":" + text)
        except BaseException:
            await pending.rollback()
            raise
        outcome.pending = pending
        outcome.body = b'{"data":{' + b",".join(parts) + b"}}"

    async def _fast(
        self,
        *,
        caller: Caller,
        runtime: ProgramRuntime,
        parsed: ParsedDocument,
        operation: OperationDefinitionNode,
        variables: VariableValues,
        roots: list[Collected],
        outcome: Execution,
    ) -> None:
        """Plan every root, fetch what the database answers, assemble ``{"data": …}``."""
        plans = self._plan(
            caller=caller,
            runtime=runtime,
            parsed=parsed,
            operation=operation,
            variables=variables,
            roots=roots,
        )
        async with AsyncExitStack() as stack:
            fetched = await self._fetch(caller=caller, plans=plans, stack=stack)
            parts = [
                orjson.dumps(plan.key)
                + b":"
                + await self._assemble(
                    plan,
                    caller=caller,
                    fetched=fetched,
                    parsed=parsed,
                    variables=variables,
                    disclosure=outcome.disclosure,
                )
                for plan in plans
            ]
        outcome.body = b'{"data":{' + b",".join(parts) + b"}}"

    def _plan(
        self,
        *,
        caller: Caller,
        runtime: ProgramRuntime,
        parsed: ParsedDocument,
        operation: OperationDefinitionNode,
        variables: VariableValues,
        roots: list[Collected],
    ) -> list[Plan]:
        """Each root field as a fixed answer, a compiled statement (cached) or a value root."""
        query_type = runtime.graphql.query_type
        assert query_type is not None
        directive_key = tuple(
            variables.coerced.get(name) for name in sorted(parsed.directive_variables)
        )
        op_name = operation.name.value if operation.name else None
        plans: list[Plan] = []
        for root in roots:
            name = root.field_name
            if name == "__typename":
                plans.append(FixedPlan(root.response_key, b'"Query"'))
                continue
            field_def = query_type.fields[name]
            args = _arguments(field_def, root, variables)
            compiler = ROOTS.get(name)
            if compiler is None:
                plans.append(
                    ValuePlan(root.response_key, self.value_roots[name], args, field_def, root)
                )
                continue
            prepared = compiler.prepare(args, caller.program, cursor_keys=runtime.cursor_keys)
            if prepared.empty:
                plans.append(FixedPlan(root.response_key, b"null"))
                continue
            cache_key = (
                parsed.text_hash,
                op_name,
                root.response_key,
                prepared.shape,
                directive_key,
            )
            statement = runtime.statements.get(cache_key)
            if statement is None:
                statement = runtime.statements.put(
                    cache_key,
                    self._compile(
                        caller.program,
                        parsed,
                        variables,
                        root,
                        prepared,
                        key_by_field_name=False,
                    ),
                )
            plans.append(StatementPlan(root.response_key, statement, prepared))
        return plans

    async def _fetch(self, *, caller: Caller, plans: list[Plan], stack: AsyncExitStack) -> Fetched:
        """One read transaction when a value root reads the database (everything then runs
        in it, with SET LOCAL); otherwise every statement in one round trip, each setting its
        own program."""
        statements = [plan for plan in plans if isinstance(plan, StatementPlan)]
        if any(isinstance(plan, ValuePlan) and plan.root.needs_database for plan in plans):
            transaction = self.reader.transaction(caller.program.name)
            return Fetched(connection=await stack.enter_async_context(transaction))
        if not statements:
            return Fetched()
        rows = await self.reader.fetch(
            [
                (
                    plan.statement.gated,
                    [*plan.statement.arguments(plan.prepared.params), caller.program.name],
                )
                for plan in statements
            ]
        )
        return Fetched(rows={id(plan): row for plan, row in zip(statements, rows, strict=True)})

    async def _assemble(
        self,
        plan: Plan,
        *,
        caller: Caller,
        fetched: Fetched,
        parsed: ParsedDocument,
        variables: VariableValues,
        disclosure: Disclosure,
    ) -> bytes:
        """One root's JSON, its disclosure recorded."""
        if isinstance(plan, FixedPlan):
            return plan.text
        connection = fetched.connection
        if isinstance(plan, StatementPlan):
            statement, prepared = plan.statement, plan.prepared
            if connection is not None:
                row = await connection.fetchrow(
                    statement.sql, *statement.arguments(prepared.params)
                )
            else:
                row = fetched.rows[id(plan)]
            if row is None:
                return b"null"
            disclosure.add(statement, row[1], row[2])
            return _finished(statement, prepared, row[0]).encode()
        value = await plan.root.value(caller=caller, args=plan.args, connection=connection)
        _record_subject(disclosure, plan.root, plan.collected.field_name, value, plan.args)
        if connection is not None and getattr(plan.root, "embeds_households", False):
            await self._embed(
                value, plan=plan, caller=caller, parsed=parsed, variables=variables,
                connection=connection, disclosure=disclosure,
            )  # fmt: skip
        projected = project(
            value,
            plan.field_def.type,
            sub_selections(plan.collected),
            fragments=parsed.fragments,
            variables=variables.coerced,
        )
        return orjson.dumps(projected)

    async def _embed(
        self,
        value: Any,
        *,
        plan: ValuePlan,
        caller: Caller,
        parsed: ParsedDocument,
        variables: VariableValues,
        connection: asyncpg.Connection,
        disclosure: Disclosure,
    ) -> None:
        """The households a value root's answer names (``schema.embed``), read as the program's
        ``Household`` on the request's connection."""
        found = find_refs(
            value,
            plan.field_def.type,
            sub_selections(plan.collected),
            fragments=parsed.fragments,
            variables=variables.coerced,
        )
        if not found:
            return
        await embed_households(
            found,
            connection=connection,
            program=caller.program,
            cursor_keys=self.runtimes[caller.program.name].cursor_keys,
            compile_household=lambda selected, prepared: self._compile(
                caller.program, parsed, variables, selected, prepared, key_by_field_name=True
            ),
            record=disclosure.add,
        )

    def _compile(
        self,
        program: Program,
        parsed: ParsedDocument,
        variables: VariableValues,
        root: Collected,
        prepared: Any,
        *,
        key_by_field_name: bool,
    ) -> CompiledStatement:
        ctx = CompileContext(
            program=program,
            pseudonym_key=self.pseudonym_key,
            fragments=parsed.fragments,
            variables=variables.coerced,
            key_by_field_name=key_by_field_name,
        )
        statement = ROOTS[root.field_name].build(ctx, root, prepared)
        return compile_statement(statement, frozenset(ctx.field_paths), cursors=ctx.cursors)

    async def _fallback(
        self,
        caller: Caller,
        runtime: ProgramRuntime,
        parsed: ParsedDocument,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        outcome: Execution,
    ) -> None:
        assert parsed.document is not None
        context = FallbackContext(
            engine=self, caller=caller, runtime=runtime, parsed=parsed, outcome=outcome
        )
        try:
            result = await _awaited(
                execute(
                    runtime.graphql,
                    parsed.document,
                    context_value=context,
                    variable_values=dict(variables or {}),
                    operation_name=operation.name.value if operation.name else None,
                )
            )
        finally:
            await context.close()
        if result.errors:
            for error in result.errors:
                if isinstance(error.original_error, GatewayError):
                    raise error.original_error
            for error in result.errors:
                if error.original_error is not None and failure_kind(error.original_error):
                    raise error.original_error
            for error in result.errors:
                if error.original_error is not None:
                    raise Internal(
                        "The gateway failed to answer this request."
                    ) from error.original_error
            outcome.messages = [_message(error) for error in result.errors]
            raise BadInput(outcome.messages[0]["message"])
        outcome.body = orjson.dumps({"data": result.data})

    async def resolve_in_fallback(self, info: Info) -> Any:
        context = info.context
        assert isinstance(context, FallbackContext)
        return await context.resolve_root(info)


class FallbackContext:
    """Context of graphql-core execution: one read transaction, used by one resolver at a time."""

    def __init__(
        self,
        *,
        engine: Engine,
        caller: Caller,
        runtime: ProgramRuntime,
        parsed: ParsedDocument,
        outcome: Execution,
    ) -> None:
        self.engine = engine
        self.caller = caller
        self.runtime = runtime
        self.parsed = parsed
        self.outcome = outcome
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._connection: asyncpg.Connection | None = None

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None:
            transaction = self.engine.reader.transaction(self.caller.program.name)
            self._connection = await self._stack.enter_async_context(transaction)
        return self._connection

    async def close(self) -> None:
        await self._stack.aclose()

    async def resolve_root(self, info: Info) -> Any:
        raw = info._raw_info
        name = raw.field_name
        root = Collected(name, name, tuple(raw.field_nodes))
        field_def = raw.parent_type.fields[name]
        args = _arguments(field_def, root, raw.variable_values)
        async with self._lock:
            compiler = ROOTS.get(name)
            if compiler is None:
                value_root = self.engine.value_roots[name]
                connection = await self._connect() if value_root.needs_database else None
                value = await value_root.value(caller=self.caller, args=args, connection=connection)
                _record_subject(self.outcome.disclosure, value_root, name, value, args)
                return value
            prepared = compiler.prepare(
                args, self.caller.program, cursor_keys=self.runtime.cursor_keys
            )
            if prepared.empty:
                return None
            statement = self.engine._compile(
                self.caller.program,
                self.parsed,
                raw.variable_values,
                root,
                prepared,
                key_by_field_name=True,
            )
            connection = await self._connect()
            row = await connection.fetchrow(statement.sql, *statement.arguments(prepared.params))
            if row is None:
                return None
            self.outcome.disclosure.add(statement, row[1], row[2])
            return orjson.loads(_finished(statement, prepared, row[0]))


def _finished(statement: CompiledStatement, prepared: Prepared, text: str) -> str:
    """A statement's JSON as it may leave: its cursor placeholders sealed."""
    return prepared.finish(text) if statement.cursors else text


async def _awaited(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


def _operation(parsed: ParsedDocument, name: str | None) -> OperationDefinitionNode:
    if name is None:
        if len(parsed.operations) != 1:
            raise BadInput("The document holds several operations: name one in `operationName`.")
        operation = next(iter(parsed.operations.values()))
    else:
        found = parsed.operations.get(name)
        if found is None:
            raise BadInput("No operation of that name is in the document.")
        operation = found
    if operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
        raise BadInput("Only queries and mutations are served.")
    return operation


def _arguments(field_def: GraphQLField, root: Collected, variables: Any) -> dict[str, Any]:
    try:
        return get_argument_values(field_def, root.nodes[0], variables, hide_suggestions=True)
    except GraphQLError as error:
        raise BadInput(clean_message(error.message)) from None


def _message(error: GraphQLError) -> dict[str, Any]:
    message: dict[str, Any] = {"message": clean_message(error.message)}
    if error.locations:
        message["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return message
