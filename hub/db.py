"""The hub's SQL schema (SQLAlchemy 2) and the one place that opens the database.

SQLite is the embedded default; PostgreSQL is production. The schema is created and evolved
only by Alembic migrations (``hub/migrations``); :func:`open_database` upgrades to head.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from trygg.clock import from_ms


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which has no timezone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the hub stores explicit UTC")
        return value.astimezone(from_ms(0).tzinfo)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=from_ms(0).tzinfo)
        return value.astimezone(from_ms(0).tzinfo)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), default="")
    device_class: Mapped[str] = mapped_column(String(64), default="pole")
    firmware: Mapped[str] = mapped_column(String(64), default="")
    boot: Mapped[int] = mapped_column(Integer, default=0)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    heartbeat_s: Mapped[float] = mapped_column(Float, default=300.0)
    last_seen: Mapped[datetime | None]
    state_changed: Mapped[datetime | None]
    outbox_depth: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    # De-duplication: every seq <= watermark is stored; ``above`` holds stored seqs past a hole.
    watermark: Mapped[int] = mapped_column(BigInteger, default=0)
    above: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gaps: Mapped[int] = mapped_column(BigInteger, default=0)
    lost: Mapped[int] = mapped_column(BigInteger, default=0)
    # Fused online/offline state (hub/device_state.py): why it last changed.
    state_reason: Mapped[str] = mapped_column(String(16), default="unknown")
    last_gap_at: Mapped[datetime | None]
    # Retired devices keep their history and watermarks but the ingest no longer takes them.
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class Asset(Base):
    __tablename__ = "assets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    cabinet: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alarm(Base):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # root-cause suppression and acknowledgement of the condition itself
    suppressed_by: Mapped[str | None] = mapped_column(String(200), index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    asset_id: Mapped[str | None] = mapped_column(String(64), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(32), default="rule")
    assignee: Mapped[str | None] = mapped_column(String(64))
    sla_due: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # severity of the alarm behind it, repeats, crew area, resolve hold, duplicates
    severity: Mapped[str] = mapped_column(String(16), default="indeterminate")
    alarm_count: Mapped[int] = mapped_column(Integer, default=1)
    area: Mapped[str | None] = mapped_column(String(64), index=True)
    hold_until: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    duplicate_of: Mapped[int | None] = mapped_column(Integer)


class TicketHistory(Base):
    __tablename__ = "ticket_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(300))
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(400))
    size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # first 4 KiB only


class RuleState(Base):
    """Persisted state of one rule instance (timers, learned baselines), as JSON."""

    __tablename__ = "rule_state"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class Counter(Base):
    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LeaseRow(Base):
    """Who holds a named piece of shared work until when; ``token`` grows with every new
    holder so a writer can prove it still holds what it held when it started."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (Alembic ``upgrade heads``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "heads")


def _sqlite_pragmas(dbapi_conn: Any, busy_ms: int) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.close()


@dataclass(frozen=True, slots=True)
class SqlTimeouts:
    """How long the hub waits on its SQL database, so a hung server costs a bounded wait
    (and a 503 or a worker's retry), never a thread blocked without end."""

    connect_s: float = 10.0  # PostgreSQL: opening a connection
    statement_s: float = 30.0  # PostgreSQL statement_timeout; SQLite busy timeout (locks)
    pool_s: float = 10.0  # waiting for a free pooled connection


def open_database(
    url: str, *, migrate: bool = True, timeouts: SqlTimeouts = SqlTimeouts()
) -> sessionmaker[Any]:
    """Engine + session factory for ``url``, migrated to head unless told otherwise."""
    if migrate:
        upgrade(url)
    sqlite_db = url.startswith("sqlite")
    engine: Engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=timeouts.pool_s,
        connect_args=_connect_args(timeouts, sqlite_db=sqlite_db),
    )
    if sqlite_db:
        busy_ms = int(timeouts.statement_s * 1000)
        event.listen(engine, "connect", lambda conn, _rec: _sqlite_pragmas(conn, busy_ms))
    return sessionmaker(engine, expire_on_commit=False)


def _connect_args(timeouts: SqlTimeouts, *, sqlite_db: bool) -> dict[str, Any]:
    if sqlite_db:
        return {"timeout": timeouts.statement_s}
    return {
        "connect_timeout": max(1, round(timeouts.connect_s)),
        "options": f"-c statement_timeout={int(timeouts.statement_s * 1000)}",
    }


def upsert(s: Session, model: type[Base], rows: list[dict[str, Any]], *, key: str) -> None:
    """Insert ``rows`` or update them where ``key`` exists, in one statement (PostgreSQL or
    SQLite ``ON CONFLICT``); a per-row ``Session.merge`` costs a SELECT and an UPDATE each."""
    if not rows:
        return
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model)
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=[key], set_={k: stmt.excluded[k] for k in rows[0] if k != key}
        ),
        rows,
    )


# --- users and API tokens, citizen contacts, webhook outbox, crew photos -----------------


class User(Base):
    """A person or integration that calls the API; ``area`` bounds a crew's tickets."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    area: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256; ``scope`` is "api" or "open311"."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16), default="api")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class CitizenContact(Base):
    """Personal data from a citizen report, kept apart from the ticket and purged later."""

    __tablename__ = "citizen_contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    account_id: Mapped[str | None] = mapped_column(String(100))
    device_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class TicketPhoto(Base):
    """A photo a crew member took of the fault (a person's report, not a camera frame)."""

    __tablename__ = "ticket_photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class IdempotencyKey(Base):
    """The answer to a crew action sent with an ``Idempotency-Key``, replayed if it comes again."""

    __tablename__ = "idempotency_keys"
    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request: Mapped[str] = mapped_column(String(200))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """The durable outbox: one row per (subscription, ticket history event)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "history_id"),
        UniqueConstraint("subscription_id", "alert_key", name="uq_webhook_deliveries_alert"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    # A ticket event has its history row, an alert event its alert state (the other is null).
    history_id: Mapped[int | None] = mapped_column(Integer)
    alert_key: Mapped[str | None] = mapped_column(String(80))
    media_type: Mapped[str] = mapped_column(String(40), default="application/json")
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(300), default="")


# --- ticket comments and crews with their area polygons ---------------------------------


class TicketComment(Base):
    __tablename__ = "ticket_comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    # Published to anonymous Open311 callers only when a crew member or operator chose so.
    public: Mapped[bool] = mapped_column(Boolean, default=False)


class Crew(Base):
    """A maintenance crew and the area it covers: a polygon of [lon, lat] pairs (GeoJSON
    order); tickets inside it are assigned to the crew. Lower ``rank`` wins on overlap."""

    __tablename__ = "crews"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    area: Mapped[str] = mapped_column(String(64))
    polygon: Mapped[dict[str, Any]] = mapped_column(JSON)
    kinds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rank: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DeviceCommand(Base):
    """The durable command outbox to devices (e.g. ``ack_tamper`` after a crew acknowledged
    a camera ticket): sent by :class:`hub.command_sender.CommandSender` until the device
    answers with a command result or the attempts run out."""

    __tablename__ = "device_commands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None] = mapped_column(index=True)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(String(500), default="")


# --- administration: the audit trail, devices the hub does not know, the registry version -


class AuditEntry(Base):
    """One administrative change: who made it, when, to what, and the values before/after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class UnregisteredDevice(Base):
    """A device id the hub heard from but does not know (or an operator blocked), with what
    its last birth claimed it to be (class, site, assets)."""

    __tablename__ = "unregistered_devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)


class RegistryVersion(Base):
    """One row whose ``version`` every registry change raises; running hubs poll it."""

    __tablename__ = "registry_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class AssetHour(Base):
    """Seconds one asset spent in one state value in one UTC hour (``hub/followup``)."""

    __tablename__ = "asset_hours"
    asset: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    count: Mapped[int] = mapped_column(Integer, default=0)


class AssetSpan(Base):
    """An asset's seconds in one state value over one Stockholm calendar day or month, summed
    from its ``asset_hours`` (``hub/followup/rollup.py``)."""

    __tablename__ = "asset_spans"
    asset: Mapped[str] = mapped_column(String(64), primary_key=True)
    span: Mapped[str] = mapped_column(String(8), primary_key=True)
    first: Mapped[date] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    site: Mapped[str] = mapped_column(String(64))
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    count: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_asset_spans_span_first", "span", "first"),)


class PlaceRow(Base):
    """A named place and its GeoJSON polygon (``hub/places.py``)."""

    __tablename__ = "places"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


# --- partners: organisations that see only their own places, read-only --------------------


class PartnerOrg(Base):
    """A partner organisation (property owner, centre owner, police, security company)."""

    __tablename__ = "partner_orgs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class PartnerPlace(Base):
    """A place a partner organisation sees; goes with the place or the organisation."""

    __tablename__ = "partner_places"
    org_id: Mapped[int] = mapped_column(
        ForeignKey("partner_orgs.id", ondelete="CASCADE"), primary_key=True
    )
    place: Mapped[str] = mapped_column(
        ForeignKey("places.name", ondelete="CASCADE"), primary_key=True, index=True
    )


class PartnerUser(Base):
    """Ties a ``partner`` user to the one organisation whose places they see."""

    __tablename__ = "partner_users"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("partner_orgs.id", ondelete="CASCADE"), index=True
    )
