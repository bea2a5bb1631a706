"""The wire contract between a pole (edge agent) and the hub, version 1.

Everything that crosses MQTT is defined here and nowhere else; edge and hub both import
this module, and ``trygg contract`` exports it as JSON Schema for other vendors' devices.
This module is pure: it imports no I/O library.

Topics (``{d}`` is the device id, which must equal the payload's ``device``)::

    trygg/v1/dev/{d}/birth    device -> hub  retained; who I am, my assets, my outbox floor
    trygg/v1/dev/{d}/state    device -> hub  retained; online, and the Last Will (online=false)
    trygg/v1/dev/{d}/data     device -> hub  QoS 1; a batch of readings (from the outbox)
    trygg/v1/dev/{d}/event    device -> hub  QoS 1; a batch of events (from the outbox)
    trygg/v1/dev/{d}/cmdres   device -> hub  QoS 1; the result of a command
    trygg/v1/dev/{d}/csr      device -> hub  QoS 1; a request to sign the device's new key
    trygg/v1/dev/{d}/cmd      hub -> device  QoS 1; a command (QoS 0 for the hub's rebirth
                                             requests, repeated while the gap is open)
    trygg/v1/dev/{d}/ack      hub -> device  QoS 0, retained; end-to-end acknowledgement
    trygg/v1/dev/{d}/cert     hub -> device  QoS 1; the signed certificate, or why not
    trygg/v1/hub/state        hub -> all     retained; hub online or not

Delivery guarantee. ``seq`` is assigned once, when a message enters the device's durable
outbox, from a per-device counter that never goes back (it survives reboots); ``boot``
counts agent starts. The encoded bytes are stored in the outbox and a replay sends the very
same bytes, so the hub de-duplicates by ``(device, boot, seq)``. A broker PUBACK only means
"sent": the device deletes a message from its outbox only when an :class:`Ack` from the hub
says every ``seq`` up to and including ``Ack.seq`` is durably stored. An Ack is cumulative
and retained, so it goes at QoS 0: devices connect with a clean start, where QoS 1 would
re-deliver nothing that TCP does not; a lost one is made good by the next, by the retained
copy on reconnect, or by the device re-sending after its ack timeout. If a device had to
drop unsent messages (outbox full), its birth says so with ``low`` (the lowest ``seq`` it
still holds), so the hub can advance past the hole and record it as a gap.

Time. Every measurement time is integer milliseconds since the Unix epoch, UTC. The edge
keeps times strictly increasing per (asset, sensor, field), so two readings can never
become one InfluxDB point. Readings taken before the Pi's clock was synchronised carry
``unsynced=true``; their order is the ``seq`` order, never the wall-clock order.

Text. Free text (an address, a firmware version, a string value, a command result's id and
message) may not hold control characters (U+0000-U+001F, U+007F; a command result's message
may hold tab, newline and carriage return); names follow ``NAME_PATTERN``. A message that
breaks this is refused whole (see :mod:`trygg.text`).

Ownership. A device speaks only for its own assets: the first device whose birth declares
an asset owns it, and the hub refuses readings, events and births from any other device
that name it, and births that declare more assets than the hub allows per device.

Encoding: compact JSON, UTF-8, chosen by measurement (``python -m bench.encoding``
compares it with MessagePack and CBOR): a binary payload is smaller but still has to be
validated in Python, so JSON through pydantic's Rust core is faster on both ends, readable
with ``mosquitto_sub``, and any vendor's device can produce it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trygg import text

CONTRACT_VERSION: Final = 1
TOPIC_ROOT: Final = "trygg/v1"
HUB_STATE_TOPIC: Final = f"{TOPIC_ROOT}/hub/state"
MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_READINGS_PER_MESSAGE: Final = 1000
MAX_EVENTS_PER_MESSAGE: Final = 200
DEVICE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{1,62}$"
_DEVICE_ID_RE: Final = re.compile(DEVICE_ID_PATTERN)
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EPOCH_MS_MIN: Final = 946_684_800_000  # 2000-01-01
EPOCH_MS_MAX: Final = 4_102_444_800_000  # 2100-01-01


class ContractError(ValueError):
    """A topic or payload that breaks the contract; ``reason`` is a stable short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Kind(StrEnum):
    BIRTH = "birth"
    STATE = "state"
    DATA = "data"
    EVENT = "event"
    CMD_RESULT = "cmdres"
    CMD = "cmd"
    ACK = "ack"
    CSR = "csr"
    CERT = "cert"
    RELEASE = "release"


DEVICE_TO_HUB: Final = frozenset(
    {Kind.BIRTH, Kind.STATE, Kind.DATA, Kind.EVENT, Kind.CMD_RESULT, Kind.CSR, Kind.RELEASE}
)


class AssetKind(StrEnum):
    """Also the InfluxDB measurement each asset's readings go to."""

    STREETLIGHT = "streetlight"
    CABINET = "cabinet"
    BIN = "bin"
    CAMERA = "camera"
    CROWD = "crowd"
    DEVICE = "device"  # the Pi itself


class Unit(StrEnum):
    AMPERE = "A"
    KILOWATT = "kW"
    LUX = "lx"
    CELSIUS = "Cel"
    METRE = "m"
    SQUARE_METRE = "m2"
    DEGREE = "deg"
    SECOND = "s"
    RATIO = "1"  # dimensionless 0..1
    COUNT = "count"
    PERSONS_PER_SQUARE_METRE = "persons/m2"
    PERCENT = "%"
    BYTES = "By"
    TEXT = "text"
    BOOLEAN = "bool"


class FieldSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    unit: Unit
    type: Literal["float", "int", "bool", "str"]
    description: str


def _f(unit: Unit, typ: Literal["float", "int", "bool", "str"], description: str) -> FieldSpec:
    return FieldSpec(unit=unit, type=typ, description=description)


# FIWARE Smart Data Models names where one exists (Streetlight, WasteContainer,
# CrowdFlowObserved, Device); our extensions are named in the same style.
FIELDS: Final[dict[str, FieldSpec]] = {
    # Streetlight (FIWARE Streetlight; electrical fields named as on StreetlightControlCabinet)
    "powerState": _f(Unit.TEXT, "str", "lamp state: on | off | low | bootingUp"),
    "intensity": _f(Unit.AMPERE, "float", "lamp current"),
    "activePower": _f(Unit.KILOWATT, "float", "lamp active power"),
    "illuminance": _f(Unit.LUX, "float", "measured ambient light"),
    "illuminanceLevel": _f(Unit.RATIO, "float", "dimming setpoint 0..1 (not measured light)"),
    # WasteContainer
    "fillingLevel": _f(Unit.RATIO, "float", "fill level 0..1 from the ultrasonic distance"),
    "distance": _f(Unit.METRE, "float", "ultrasonic distance to the top of the rubbish"),
    "temperature": _f(Unit.CELSIUS, "float", "temperature inside the bin"),
    "tilted": _f(Unit.BOOLEAN, "bool", "bin is tilted or dropped"),
    "tiltAngle": _f(Unit.DEGREE, "float", "bin tilt from vertical"),
    # Device (the Pi)
    "cpuTemperature": _f(Unit.CELSIUS, "float", "SoC temperature"),
    "cpuLoad": _f(Unit.RATIO, "float", "1-minute load average divided by core count"),
    "memoryUsed": _f(Unit.RATIO, "float", "used memory fraction"),
    "diskUsed": _f(Unit.RATIO, "float", "used disk fraction of the state partition"),
    "uptime": _f(Unit.SECOND, "float", "seconds since boot"),
    "clockSynced": _f(Unit.BOOLEAN, "bool", "system clock synchronised (NTP)"),
    "outboxDepth": _f(Unit.COUNT, "int", "messages waiting in the outbox"),
    "droppedReadings": _f(Unit.COUNT, "int", "messages dropped oldest-first since install"),
    "rssi": _f(Unit.COUNT, "int", "mobile link signal strength, dBm"),
    # Camera health (numbers only, never images)
    "sharpness": _f(Unit.RATIO, "float", "Laplacian variance relative to baseline"),
    "edgeDensity": _f(Unit.RATIO, "float", "edge density relative to baseline"),
    "meanLuma": _f(Unit.COUNT, "float", "mean grey level 0..255"),
    "displacement": _f(Unit.COUNT, "float", "shift against the reference frame, pixels"),
    "frozen": _f(Unit.BOOLEAN, "bool", "picture stopped changing while frames arrive"),
    "healthScore": _f(Unit.RATIO, "float", "overall camera health 0..1"),
    "graffitiArea": _f(Unit.SQUARE_METRE, "float", "changed wall area against clean reference"),
    # CrowdFlowObserved (+ density and level of service as our extension)
    "peopleCount": _f(Unit.COUNT, "int", "people in the zone"),
    "peopleDensity": _f(Unit.PERSONS_PER_SQUARE_METRE, "float", "people per square metre"),
    "levelOfService": _f(Unit.TEXT, "str", "Fruin walkway level of service A-F"),
    "levelOfServiceQueue": _f(Unit.TEXT, "str", "Fruin standing/queuing level of service A-F"),
    "occlusionLimited": _f(Unit.BOOLEAN, "bool", "density above ~2 p/m2: count is a lower bound"),
    "congested": _f(Unit.BOOLEAN, "bool", "FIWARE congested"),
    # not FIWARE's occupancy (a share of time): the zone's people over its planned capacity
    "occupancy": _f(Unit.RATIO, "float", "people in the zone / the zone's capacity"),
}

# Free text from a device: control characters are refused (see trygg.text).
Line = Annotated[str, Field(pattern=text.LINE_PATTERN)]
Text = Annotated[str, Field(pattern=text.TEXT_PATTERN)]
Value = float | int | bool | Line
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
# A release is named by the SHA-256 of its signed manifest.
ReleaseId = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
EpochMs = Annotated[int, Field(ge=EPOCH_MS_MIN, le=EPOCH_MS_MAX)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Reading(_Model):
    """One measured value of one field of one sensor at one time."""

    asset: Name
    kind: AssetKind
    sensor: Name
    field: Name
    t: EpochMs = Field(description="measurement time, ms since epoch, UTC")
    v: Value
    q: Literal["good", "uncertain", "bad"] = "good"
    unsynced: bool = Field(default=False, description="taken before the clock was synced")


class EventItem(_Model):
    """A condition the edge saw (tilt, fire risk, camera covered, graffiti candidate)."""

    asset: Name
    kind: AssetKind
    type: Name = Field(description="e.g. tilt, temperatureJump, cameraCovered, graffiti")
    t: EpochMs
    active: bool = True
    severity: Literal["critical", "major", "minor", "warning", "indeterminate"] = "warning"
    values: dict[Name, float] = Field(default_factory=dict, max_length=32)
    unsynced: bool = False


class AssetInfo(_Model):
    id: Name
    kind: AssetKind
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    cabinet: Name | None = None
    address: Line | None = Field(default=None, max_length=200)
    properties: dict[Name, Value] = Field(default_factory=dict, max_length=64)


class Birth(_Model):
    v: Literal[1] = 1
    device: DeviceId
    boot: int = Field(ge=1)
    ts: EpochMs
    firmware: Line = Field(max_length=64)
    release: ReleaseId | None = Field(default=None, description="the signed release it runs")
    site: Name
    device_class: Name = "pole"
    heartbeat_s: float = Field(gt=0, le=86_400, description="max seconds between messages")
    low: int = Field(ge=1, description="lowest seq still in the outbox (or next seq if empty)")
    assets: list[AssetInfo] = Field(max_length=256)


class State(_Model):
    """Retained. The Last Will is a State with online=false and the boot it belongs to."""

    v: Literal[1] = 1
    device: DeviceId
    boot: int = Field(ge=1)
    online: bool
    ts: EpochMs


class Data(_Model):
    v: Literal[1] = 1
    device: DeviceId
    site: Name
    boot: int = Field(ge=1)
    seq: int = Field(ge=1)
    historical: bool = Field(default=False, description="queued while the link or hub was away")
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)


class Events(_Model):
    v: Literal[1] = 1
    device: DeviceId
    site: Name
    boot: int = Field(ge=1)
    seq: int = Field(ge=1)
    historical: bool = False
    events: list[EventItem] = Field(min_length=1, max_length=MAX_EVENTS_PER_MESSAGE)


CommandName = Literal[
    "reload_config",
    "rebirth",
    "lamp_test",
    "set_interval",
    "ack_tamper",
    "outbox_status",
    "set_crowd_interval",
    "install_release",
    "renew_certificate",
]


class Command(_Model):
    v: Literal[1] = 1
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]
    name: CommandName
    args: dict[Name, Value] = Field(default_factory=dict, max_length=16)
    ts: EpochMs


class CommandResult(_Model):
    v: Literal[1] = 1
    device: DeviceId
    id: Line = Field(max_length=64)
    ok: bool
    message: Text = Field(default="", max_length=500)
    ts: EpochMs


class Ack(_Model):
    """End-to-end acknowledgement: every seq <= ``seq`` of ``device`` is durably stored."""

    v: Literal[1] = 1
    device: DeviceId
    seq: int = Field(ge=0)
    ts: EpochMs


# PEM text only: base64 lines between the markers, nothing before or after.
_B64_LINES: Final = r"[A-Za-z0-9+/=\n]{1,4096}"
CSR_PATTERN: Final = (
    rf"^-----BEGIN CERTIFICATE REQUEST-----\n{_B64_LINES}-----END CERTIFICATE REQUEST-----\n?$"
)
CHAIN_PATTERN: Final = (
    rf"^(-----BEGIN CERTIFICATE-----\n{_B64_LINES}-----END CERTIFICATE-----\n){{1,3}}$"
)
RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]


class CertRequest(_Model):
    """A device asks the hub to sign a key it made itself (the key never leaves it)."""

    v: Literal[1] = 1
    device: DeviceId
    id: RequestId
    csr: str = Field(pattern=CSR_PATTERN, max_length=4096, description="PEM request")
    ts: EpochMs


class CertReply(_Model):
    """The hub's answer to a :class:`CertRequest`: the certificate and its issuing CA, or
    the reason it refused."""

    v: Literal[1] = 1
    device: DeviceId
    id: RequestId
    ok: bool
    chain: str | None = Field(
        default=None, pattern=CHAIN_PATTERN, max_length=12288, description="PEM, leaf first"
    )
    reason: Line = Field(default="", max_length=300)
    trust: str | None = Field(
        default=None,
        pattern=CHAIN_PATTERN,
        max_length=12288,
        description="PEM, the CA certificates the device should trust from now on; sent "
        "only by a hub whose CA has rolled over, checked by the device against the chain",
    )
    ts: EpochMs


ReleaseState = Literal[
    "downloading", "verified", "installed", "switched", "healthy", "rolled_back", "failed"
]


class ReleaseReport(_Model):
    """A device's progress with a release it was told to install (``install_release``)."""

    v: Literal[1] = 1
    device: DeviceId
    release: ReleaseId
    command: RequestId | None = Field(default=None, description="the install command's id")
    state: ReleaseState
    reason: Line = Field(default="", max_length=300)
    ts: EpochMs


class HubState(_Model):
    v: Literal[1] = 1
    online: bool
    ts: EpochMs


Message = (
    Birth
    | State
    | Data
    | Events
    | Command
    | CommandResult
    | Ack
    | CertRequest
    | CertReply
    | ReleaseReport
)

MODELS: Final[dict[Kind, type[_Model]]] = {
    Kind.BIRTH: Birth,
    Kind.STATE: State,
    Kind.DATA: Data,
    Kind.EVENT: Events,
    Kind.CMD: Command,
    Kind.CMD_RESULT: CommandResult,
    Kind.ACK: Ack,
    Kind.CSR: CertRequest,
    Kind.CERT: CertReply,
    Kind.RELEASE: ReleaseReport,
}
# The models' own compiled validators, called directly: a TypeAdapter around each model
# adds a Python wrapper call per message on the hub's hot path.
_VALIDATORS: Final = {kind: model.__pydantic_validator__ for kind, model in MODELS.items()}


def topic_for(device: str, kind: Kind) -> str:
    """The topic a message of ``kind`` about ``device`` travels on."""
    if not _DEVICE_ID_RE.fullmatch(device):
        raise ContractError("topic", f"invalid device id {device!r}")
    return f"{TOPIC_ROOT}/dev/{device}/{kind.value}"


def subscription(kind: Kind, device: str = "+") -> str:
    """A topic filter for ``kind`` from one device or (default) all devices."""
    return f"{TOPIC_ROOT}/dev/{device}/{kind.value}"


def parse_topic(topic: str) -> tuple[str, Kind]:
    """Split a device topic into (device id, kind); raises ContractError('topic')."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT or parts[2] != "dev":
        raise ContractError("topic", f"not a trygg v1 device topic: {topic[:200]!r}")
    device, kind_text = parts[3], parts[4]
    if not _DEVICE_ID_RE.fullmatch(device):
        raise ContractError("topic", f"invalid device id in topic: {device[:80]!r}")
    try:
        kind = Kind(kind_text)
    except ValueError:
        raise ContractError("topic", f"unknown message kind {kind_text[:40]!r}") from None
    return device, kind


def encode(message: _Model) -> bytes:
    """Compact, deterministic JSON bytes; raises ContractError('oversized') past the limit."""
    raw = message.model_dump_json(exclude_defaults=False).encode()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError("oversized", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    return raw


def encode_ack(*, device: str, seq: int, ts: int) -> bytes:
    """``encode(Ack(device=device, seq=seq, ts=ts))``, byte for byte, without building the
    model: the hub sends one per device per batch interval. Arguments the model would refuse
    go through the model, which raises its ``ValidationError``. A device id needs no JSON
    escaping (its pattern allows only ``[a-z0-9-]``)."""
    if (
        type(seq) is int
        and type(ts) is int
        and seq >= 0
        and EPOCH_MS_MIN <= ts <= EPOCH_MS_MAX
        and _DEVICE_ID_RE.fullmatch(device)  # not match: "$" also matches before a "\n"
    ):
        return b'{"v":1,"device":"%s","seq":%d,"ts":%d}' % (device.encode(), seq, ts)
    return encode(Ack(device=device, seq=seq, ts=ts))


def decode(kind: Kind, payload: bytes) -> Any:
    """Validate ``payload`` as a message of ``kind``.

    Returns the model instance (Birth, State, Data, ...). Raises ContractError with reason
    ``oversized`` (too large), ``malformed`` (not JSON) or ``schema`` (JSON that breaks the
    contract).
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        return _VALIDATORS[kind].validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ContractError("malformed", str(errors[0]["msg"])[:200]) from exc
        raise ContractError("schema", _schema_detail(errors, str(exc))[:300]) from exc


_TEXT_ERRORS: Final = frozenset({"string_pattern_mismatch", "string_unicode"})


def _schema_detail(errors: list[Any], fallback: str) -> str:
    """The field and what is wrong with it. Refused text is named before the other
    branches' complaints of a union (``v`` of a reading: not a float, not an int, ...)."""
    if not errors:
        return fallback
    first = next((e for e in errors if e["type"] in _TEXT_ERRORS), errors[0])
    loc = list(first["loc"])
    msg = str(first["msg"])
    if first["type"] in _TEXT_ERRORS:
        if loc and loc[-1] == "constrained-str":  # pydantic's tag for the union's branch
            loc.pop()
        value = first.get("input")
        if isinstance(value, str):
            msg = text.refusal(value, multiline=True) or text.refusal(value) or msg
    return f"{'.'.join(str(p) for p in loc)}: {msg}"


def decode_device_message(topic: str, payload: bytes) -> tuple[str, Kind, Any]:
    """Parse a device->hub message and check the payload's device matches the topic.

    Raises ContractError with reason ``topic``, ``oversized``, ``malformed``, ``schema`` or
    ``device_mismatch``.
    """
    device, kind = parse_topic(topic)
    if kind not in DEVICE_TO_HUB:
        raise ContractError("topic", f"{kind.value} is not sent by devices")
    message = decode(kind, payload)
    if message.device != device:
        raise ContractError(
            "device_mismatch", f"payload device {message.device!r} on topic of {device!r}"
        )
    return device, kind, message


def decode_hub_state(payload: bytes) -> HubState:
    """Validate the retained hub state; raises ContractError like :func:`decode`."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("oversized", f"{len(payload)} bytes")
    try:
        return HubState.model_validate_json(payload)
    except ValidationError as exc:
        raise ContractError("schema", str(exc)[:300]) from exc


def json_schema() -> dict[str, Any]:
    """The whole contract as one JSON Schema document (topics, units and limits included)."""
    defs: dict[str, Any] = {}
    for kind, model in MODELS.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        schema["x-topic"] = f"{TOPIC_ROOT}/dev/{{device}}/{kind.value}"
        defs[model.__name__] = schema
    defs["HubState"] = HubState.model_json_schema()
    defs["HubState"]["x-topic"] = HUB_STATE_TOPIC
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://trygg.example/contract/v{CONTRACT_VERSION}.json",
        "title": f"Trygg wire contract v{CONTRACT_VERSION}",
        "description": (__doc__ or "").strip(),
        "x-max-payload-bytes": MAX_PAYLOAD_BYTES,
        "x-fields": {name: spec.model_dump() for name, spec in FIELDS.items()},
        "$defs": defs,
    }
