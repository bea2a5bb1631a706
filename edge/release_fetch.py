"""Downloading a release from the hub's release server over HTTPS with the pole's client
certificate, checking everything against the signed manifest as it streams in.

Nothing here is trusted because of where it came from: the manifest must carry a release
key's signature and name the release asked for, and each file must have the size and
SHA-256 the manifest lists (a longer one is cut off at the listed size).
"""

from __future__ import annotations

import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trygg import release as r

# Room a download needs beyond the files themselves: they are held once as downloaded and
# once installed, plus what pip unpacks from the wheels.
DISK_FACTOR: Final = 4


@dataclass(frozen=True, slots=True)
class Tls:
    ca_file: Path
    cert_file: Path | None
    key_file: Path | None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx


@dataclass(frozen=True, slots=True)
class Downloaded:
    folder: Path
    id: str
    manifest: r.Manifest


def _get_capped(client: httpx.Client, url: str, limit: int) -> bytes:
    with client.stream("GET", url) as resp:
        if resp.status_code != 200:
            raise r.ReleaseError(f"GET {url}: HTTP {resp.status_code}")
        data = bytearray()
        for chunk in resp.iter_bytes():
            data += chunk
            if len(data) > limit:
                raise r.ReleaseError(f"GET {url}: more than {limit} bytes")
        return bytes(data)


def _get_file(client: httpx.Client, url: str, entry: r.FileEntry, dest: Path) -> None:
    check = r.FileCheck(entry)
    tmp = dest.with_name(dest.name + ".part")
    with client.stream("GET", url) as resp:
        if resp.status_code != 200:
            raise r.ReleaseError(f"{entry.path}: GET {url}: HTTP {resp.status_code}")
        with tmp.open("wb") as f:
            for chunk in resp.iter_bytes():
                check.update(chunk)  # refuses the byte past the listed size
                f.write(chunk)
    check.finish()
    tmp.replace(dest)


def download(
    *,
    base_url: str,
    release_id: str,
    dest: Path,
    public_keys: list[Ed25519PublicKey],
    tls: Tls,
    timeout_s: float,
) -> Downloaded:
    """Fetch release ``release_id`` into ``dest`` (the bundle layout), verified.

    Blocking: run it in a worker thread. Raises ReleaseError for anything that can't be trusted or fetched (HTTP status, TLS,
    signature, id, size, hash, disk space).
    """
    base = f"{base_url.rstrip('/')}/{release_id}"
    try:
        with httpx.Client(verify=tls.context(), timeout=timeout_s) as client:
            manifest_bytes = _get_capped(client, f"{base}/{r.MANIFEST}", r.MAX_MANIFEST_BYTES)
            signature = _get_capped(client, f"{base}/{r.SIGNATURE}", r.MAX_SIGNATURE_BYTES)
            manifest = r.verify(manifest_bytes, signature, public_keys)
            if r.release_id(manifest_bytes) != release_id:
                raise r.ReleaseError("the manifest served is not the release asked for")
            dest.mkdir(parents=True, exist_ok=True)
            need = DISK_FACTOR * sum(f.size for f in manifest.files)
            free = shutil.disk_usage(dest).free
            if need > free:
                raise r.ReleaseError(f"disk: {need} bytes needed, {free} free")
            (dest / r.FILES).mkdir(exist_ok=True)
            for entry in manifest.files:
                target = dest / r.FILES / entry.sha256
                if not target.exists():
                    _get_file(client, f"{base}/files/{entry.sha256}", entry, target)
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        raise r.ReleaseError(f"download failed: {type(exc).__name__}: {exc}") from exc
    (dest / r.MANIFEST).write_bytes(manifest_bytes)
    (dest / r.SIGNATURE).write_bytes(r.encode_signature(r.decode_signature(signature)))
    return Downloaded(dest, release_id, manifest)
