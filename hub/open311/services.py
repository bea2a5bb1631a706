"""The catalogue of ticket kinds: Open311 service codes and names in Swedish and English.

A service code is the ticket kind itself (``lampOut``, ``graffiti``): stable, opaque to
case systems and the same string the rules, the API and the webhooks use. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    group: str
    sv: str
    en: str
    keywords: tuple[str, ...]
    citizen: bool  # may a citizen report it through Open311 POST?


def _s(code: str, group: str, sv: str, en: str, *kw: str, citizen: bool = True) -> Service:
    return Service(code, group, sv, en, kw, citizen)


SERVICES: Final[tuple[Service, ...]] = (
    _s("lampOut", "streetlight", "Släckt gatlampa", "Streetlight out", "lamp", "dark"),
    _s("dayBurning", "streetlight", "Gatlampa lyser dagtid", "Streetlight on in daylight"),
    _s("flicker", "streetlight", "Blinkande gatlampa", "Flickering streetlight"),
    _s(
        "powerDrop",
        "streetlight",
        "Gatlampa lyser svagt",
        "Streetlight power dropped",
        citizen=False,
    ),
    _s("cabinetOut", "streetlight", "Strömavbrott i belysningsskåp", "Lighting cabinet outage"),
    _s("binFull", "waste", "Full papperskorg", "Bin full", "bin", "rubbish"),
    _s("binForecastFull", "waste", "Papperskorg snart full", "Bin soon full", citizen=False),
    _s("binFire", "waste", "Brand i papperskorg", "Bin on fire", "fire"),
    _s("binTilted", "waste", "Välta papperskorg", "Bin knocked over"),
    _s("binSensorDead", "waste", "Nivågivare ur funktion", "Bin sensor dead", citizen=False),
    _s("cameraCovered", "camera", "Täckt kamera", "Camera covered"),
    _s("cameraBlurred", "camera", "Suddig kamera", "Camera blurred", citizen=False),
    _s("cameraDisplaced", "camera", "Flyttad kamera", "Camera displaced"),
    _s("cameraFrozen", "camera", "Fryst kamerabild", "Camera image frozen", citizen=False),
    _s("cameraDark", "camera", "Mörk kamerabild", "Camera image dark", citizen=False),
    _s(
        "cameraOverexposed",
        "camera",
        "Överexponerad kamerabild",
        "Camera overexposed",
        citizen=False,
    ),
    _s("graffiti", "cleaning", "Klotter", "Graffiti", "tag", "vandalism"),
    _s("deviceOffline", "device", "Enhet ur kontakt", "Device offline", citizen=False),
)
BY_CODE: Final[dict[str, Service]] = {s.code: s for s in SERVICES}
GROUPS_SV: Final[dict[str, str]] = {
    "streetlight": "Gatubelysning",
    "waste": "Avfall",
    "camera": "Kameror",
    "cleaning": "Renhållning",
    "device": "Utrustning",
}


def name(code: str, lang: str = "sv") -> str:
    """The service's display name; unknown kinds (from newer rules) show their code."""
    svc = BY_CODE.get(code)
    if svc is None:
        return code
    return svc.sv if lang == "sv" else svc.en
