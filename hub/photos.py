"""Crew photos: what is kept of an upload, and for how long.

An upload is decoded and encoded again with Pillow, so nothing of the file but its pixels
survives: no EXIF (GPS position, camera serial, time), XMP, ICC profile or comment. A photo
may show people, so it is personal data and is deleted on the same schedule as a citizen's
contact (``hub.open311.contacts``): a retention period after its ticket ended.
"""

from __future__ import annotations

import io
import warnings
from datetime import datetime, timedelta
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.db import Ticket, TicketPhoto
from hub.tickets import OPEN_STATUSES

MAX_PIXELS: Final = 40_000_000  # a phone's largest photo, with room; more is a pixel bomb
_FORMATS: Final = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class PhotoError(ValueError):
    """The upload is not a readable image of an accepted type; nothing was stored."""


def _pixels(kind: str, im: Image.Image) -> Image.Image:
    """A new image holding only ``im``'s pixels, upright, in a mode ``kind`` can store."""
    upright = ImageOps.exif_transpose(im)  # the orientation tag goes, so apply it first
    if kind == "image/jpeg":
        mode = "L" if upright.mode in ("1", "L", "I;16") else "RGB"
    else:
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        mode = "RGBA" if has_alpha else "RGB"
    out = upright.convert(mode)
    out.info.clear()  # Pillow writes some metadata from ``info`` when it saves
    return out


def _decode(data: bytes, fmt: str) -> Image.Image:
    """The decoded image; PhotoError if it is too large, Pillow's own errors otherwise."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(data), formats=[fmt])
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise PhotoError(f"photo has more than {MAX_PIXELS} pixels")
    im.load()
    return im


def clean(data: bytes, kind: str) -> bytes:
    """``data`` (of the sniffed type ``kind``) encoded again without any metadata.

    PhotoError if it does not decode as that type or has more than MAX_PIXELS pixels.
    """
    fmt = _FORMATS.get(kind)
    if fmt is None:
        raise PhotoError(f"unsupported photo type {kind}")
    try:
        with _decode(data, fmt) as im:
            pixels = _pixels(kind, im)
    except PhotoError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise PhotoError(f"photo has more than {MAX_PIXELS} pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(f"photo is not a readable {fmt} image") from exc
    out = io.BytesIO()
    pixels.save(out, fmt, **({} if fmt == "PNG" else {"quality": 90}))
    return out.getvalue()


def purge(s: Session, *, now: datetime, retention: timedelta) -> int:
    """Delete photos of tickets that ended more than ``retention`` ago; returns the count.

    The same rule as citizen contacts: closed, resolved or duplicate tickets end; a
    reopened ticket is open again and keeps its photos.
    """
    ended = func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at)
    stale = select(Ticket.id).where(Ticket.status.not_in(OPEN_STATUSES), ended <= now - retention)
    result = s.execute(delete(TicketPhoto).where(TicketPhoto.ticket_id.in_(stale)))
    return int(getattr(result, "rowcount", 0) or 0)
