"""Idempotent writes: the same `Idempotency-Key` and body replay the first response.

Two ways to use it. `idempotently` claims a key before the write runs (a
unique row per caller and key), so two concurrent requests with one key
cannot both write; the response is stored when the write ends, and a claim
left behind by a crash is released after `stale_after` seconds. That leaves
a window: a crash after the write but before the answer is stored runs the
write again on retry. A service whose writes are database transactions
closes it with `answer_row`: the answer is inserted in the write's own
transaction, so the write and its answer commit together, and a retry finds
either both or neither (`find` before running, `find` again when the insert
lost to a concurrent request with the same key). Server errors are never
stored, so the client can retry them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from services.kernel.database import Row, reading
from services.kernel.problems import PROBLEM_JSON, Problem

metadata = MetaData()

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer),
    Column("body", Text),
    Column("headers", Text),
    Column("created_at", Float, nullable=False),
)
# Stores an answer (values bound by column name), in the write's own transaction.
ANSWER_INSERT = idempotency_keys.insert()


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for replay."""

    status: int
    body: Any
    headers: dict[str, str]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same': method, path and body."""
    digest = hashlib.sha256()
    digest.update(method.encode())
    digest.update(b"\0")
    digest.update(path.encode())
    digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    """Claims keys and keeps responses in the service's database."""

    def __init__(self, engine: Engine, stale_after: float = 60.0) -> None:
        self.engine = engine
        self.stale_after = stale_after
        metadata.create_all(engine, checkfirst=True)

    def claim(self, principal: str, key: str, print_: str) -> StoredResponse | None:
        """Claim `key`; returns the stored response when the request is a replay."""
        if len(key) > 200:
            raise Problem(400, "Bad Request", "The Idempotency-Key is longer than 200 characters.")
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    idempotency_keys.insert().values(
                        principal=principal, key=key, fingerprint=print_, created_at=now
                    )
                )
            return None
        except IntegrityError:
            pass
        with reading(self.engine) as conn:
            row = conn.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
                )
            ).first()
        if row is None:  # Released in between: try once more.
            return self.claim(principal, key, print_)
        if row.fingerprint != print_:
            raise Problem(
                422,
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request.",
            )
        if row.status is None:
            if now - row.created_at > self.stale_after:
                self.release(principal, key)
                return self.claim(principal, key, print_)
            raise Problem(
                409,
                "Request in progress",
                "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"},
            )
        return StoredResponse(row.status, json.loads(row.body), json.loads(row.headers))

    def find(self, principal: str, key: str, print_: str) -> StoredResponse | None:
        """The committed answer of `key`, if any (422 when it answered another request).

        A claim row without an answer is one `idempotently` left; when it is
        stale (its request died) it is removed, so it cannot block the key.
        """
        if len(key) > 200:
            raise Problem(400, "Bad Request", "The Idempotency-Key is longer than 200 characters.")
        with reading(self.engine) as conn:
            row = conn.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
                )
            ).first()
        if row is None:
            return None
        if row.fingerprint != print_:
            raise Problem(
                422,
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request.",
            )
        if row.status is None:
            if time.time() - row.created_at > self.stale_after:
                self.release(principal, key)
                return None
            raise Problem(
                409,
                "Request in progress",
                "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"},
            )
        return StoredResponse(row.status, json.loads(row.body), json.loads(row.headers))

    @staticmethod
    def answer_row(principal: str, key: str, print_: str, response: StoredResponse) -> Row:
        """The insert that stores `response` as the answer of `key`, for the write's transaction.

        It fails on the key's primary key if the key already has a row, which
        rolls the write back: the key's first answer stands.
        """
        return Row(
            ANSWER_INSERT,
            {
                "principal": principal,
                "key": key,
                "fingerprint": print_,
                "status": response.status,
                "body": json.dumps(response.body, ensure_ascii=False),
                "headers": json.dumps(response.headers),
                "created_at": time.time(),
            },
        )

    def keep(self, principal: str, key: str, print_: str, response: StoredResponse) -> None:
        """Store the answer of a request that wrote nothing (a refusal), unless one exists."""
        try:
            with self.engine.begin() as conn:
                self.answer_row(principal, key, print_, response).run(conn)
        except IntegrityError:
            pass  # Answered meanwhile: the first answer stands.

    def complete(self, principal: str, key: str, response: StoredResponse) -> None:
        """Keep the response of a claimed key."""
        with self.engine.begin() as conn:
            conn.execute(
                idempotency_keys.update()
                .where(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
                .values(
                    status=response.status,
                    body=json.dumps(response.body, ensure_ascii=False),
                    headers=json.dumps(response.headers),
                )
            )

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed, so it can be retried."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.principal == principal, idempotency_keys.c.key == key
                )
            )


Remember = Callable[[Response], StoredResponse | None]
Replay = Callable[[StoredResponse], Awaitable[Response]]


def remember_body(response: Response) -> StoredResponse | None:
    """Keep the response as sent: status, JSON body and `Location`."""
    body = json.loads(bytes(response.body)) if response.body else None
    kept = {k: v for k, v in response.headers.items() if k.lower() == "location"}
    return StoredResponse(response.status_code, body, kept)


async def replay_body(stored: StoredResponse) -> Response:
    """Answer again with the kept status, body and headers."""
    media = PROBLEM_JSON if stored.status >= 400 else "application/json"
    return JSONResponse(stored.body, stored.status, headers=stored.headers, media_type=media)


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (at most 200 characters): a retry with the same "
            "key and body gets the first answer again instead of doing the write twice.",
        ),
    ] = None,
) -> str | None:
    """Declares the `Idempotency-Key` header of a write (read by `idempotently`)."""
    return key


async def idempotently(
    request: Request,
    caller: str,
    perform: Callable[[], Awaitable[Response]],
    *,
    remember: Remember = remember_body,
    replay: Replay = replay_body,
) -> Response:
    """Run a write once per `Idempotency-Key` of `caller`; repeats get its answer again.

    `remember` chooses what is kept of the answer (None: keep nothing and free
    the key, for an answer worth retrying); `replay` turns it back into a
    response. Server errors always free the key.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return await perform()
    store: IdempotencyStore = request.app.state.idempotency
    print_ = fingerprint(request.method, request.url.path, await request.body())
    stored = await run_in_threadpool(store.claim, caller, key, print_)
    if stored is not None:
        response = await replay(stored)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        response = await perform()
    except BaseException:
        await run_in_threadpool(store.release, caller, key)
        raise
    kept = remember(response) if response.status_code < 500 else None
    if kept is None:
        await run_in_threadpool(store.release, caller, key)
    else:
        await run_in_threadpool(store.complete, caller, key, kept)
    return response
