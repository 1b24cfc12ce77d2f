"""The yardstick for intake: a naive CRUD endpoint, written only to be measured against.

    NAIVE_DATABASE_URL=... AUTH_JWT_SECRET=... python -m bench._naive_crud --port P

`POST /v1/complaints` takes the same body as the complaints service (the same
pydantic model), checks the same bearer JWT with the same role dependency,
then runs one INSERT of the body as JSON and COMMITs: no events, no sealing,
no work queue, no idempotency. What a plain FastAPI + SQLAlchemy service
would do, so that the event-sourced write path has an honest baseline.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, func

from services.complaints.schemas import NewComplaint
from services.kernel.auth import AuthSettings, Principal, Role, TokenVerifier, require
from services.kernel.database import create_database_engine
from services.kernel.problems import install_problem_handlers
from services.kernel.rate_limit import RateLimiter
from services.kernel.serving import serve

metadata = MetaData()
complaints = Table(
    "naive_complaints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)


class NaiveSettings(BaseSettings):
    """Where the naive endpoint stores its rows (prefix `NAIVE_`)."""

    model_config = SettingsConfigDict(env_prefix="NAIVE_", extra="ignore")

    database_url: str = "sqlite:///var/naive.db"


def create_app(settings: NaiveSettings | None = None, auth: AuthSettings | None = None) -> FastAPI:
    """The one-route app: validate, authenticate, INSERT, COMMIT, answer 201."""
    settings = settings or NaiveSettings()
    auth = auth or AuthSettings()
    engine = create_database_engine(settings.database_url)
    metadata.create_all(engine, checkfirst=True)
    app = FastAPI(title="Naive CRUD yardstick")
    app.state.token_verifier = TokenVerifier(auth)
    app.state.rate_limiter = RateLimiter(auth.rate_limit_per_second, auth.rate_limit_burst)
    install_problem_handlers(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/complaints", status_code=201)
    def register(
        body: NewComplaint,
        principal: Annotated[Principal, Depends(require(Role.AGENT, Role.SUPERVISOR))],
    ) -> dict[str, str]:
        # A plain `def`: FastAPI runs it in its thread pool, as a naive service would.
        complaint_id = str(uuid.uuid4())
        with engine.begin() as conn:
            conn.execute(
                complaints.insert().values(
                    id=complaint_id, owner=principal.id, body=body.model_dump_json()
                )
            )
        return {"id": complaint_id, "status": "received"}

    return app


def main() -> None:
    """Serve until interrupted."""
    serve("naive_crud", 8100, "WARNING", create_app)


if __name__ == "__main__":
    main()
