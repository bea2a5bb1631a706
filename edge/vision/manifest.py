"""The model manifest (``firmware-config/models.yaml``) and the SHA-256 gate on model files.

An agent loads only a model that the manifest names and whose bytes hash to the manifest's
SHA-256; anything else is refused with :class:`ModelRefusedError` saying why (missing,
unknown, or which hash was expected and which was found). Pure apart from reading files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_MANIFEST: Final = Path(__file__).resolve().parents[2] / "firmware-config" / "models.yaml"
_CHUNK: Final = 1 << 20


class ModelRefusedError(RuntimeError):
    """The agent will not load this model; the message says why."""


class ManifestError(ValueError):
    """The manifest file is missing or malformed; the message names the file and key."""


class InputSize(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    width: int = Field(ge=32, le=4096)
    height: int = Field(ge=32, le=4096)


class ModelEntry(BaseModel):
    """One model the fleet may run."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    file: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.onnx$")]
    format: Literal["yolox"]
    input: InputSize
    strides: tuple[int, ...] = (8, 16, 32)
    classes: int = Field(ge=1, le=1000)
    person_class: int = Field(ge=0)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    licence: str = ""
    source: str = ""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: Literal[1]
    models: dict[str, ModelEntry]

    def entry(self, name: str) -> ModelEntry:
        """The entry called ``name``; raises ModelRefusedError when the manifest lacks it."""
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelRefusedError(
                f"model {name!r} is not in the manifest (known: {known})"
            ) from None

    def entry_for_file(self, path: Path) -> tuple[str, ModelEntry]:
        """The (name, entry) whose file name is ``path``'s; raises ModelRefusedError."""
        for name, item in self.models.items():
            if item.file == path.name:
                return name, item
        raise ModelRefusedError(
            f"refusing {path}: its file name is not listed in the model manifest"
        )


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    """Read and validate the manifest; raises ManifestError naming the file and key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read model manifest: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"{path}: {where}: {first['msg']}") from exc
    for name, item in manifest.models.items():
        if item.person_class >= item.classes:
            raise ManifestError(
                f"{path}: models.{name}.person_class {item.person_class} >= classes"
            )
    return manifest


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model(path: Path, entry: ModelEntry) -> bytes:
    """Return the model's bytes once they hash to ``entry.sha256``.

    The bytes that were hashed are the bytes the caller loads, so a file swapped between
    check and load cannot slip through. Raises ModelRefusedError when the file is missing
    or its hash differs, naming both hashes.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelRefusedError(f"refusing model {path}: cannot read it: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise ModelRefusedError(
            f"refusing model {path}: SHA-256 {actual} differs from the manifest's "
            f"{entry.sha256} for {entry.file} (wrong, corrupted or tampered file)"
        )
    return data
