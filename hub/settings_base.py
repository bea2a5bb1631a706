"""What every part of the hub's settings shares: frozen, unknown keys refused, and built
from keyword arguments only (:mod:`hub.settings_env` is the one reader of the environment)."""

from __future__ import annotations

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class FrozenSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Tests and tools build settings from arguments; a stray variable must not leak in.
        return (init_settings,)

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of ``field``, e.g. ``TRYGG_MQTT_PORT``."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """Each environment variable of this part with its field (sub-parts have their own)."""
        return {
            cls.variable(name): info
            for name, info in cls.model_fields.items()
            if name not in cls.parts()
        }

    @classmethod
    def parts(cls) -> dict[str, type[FrozenSettings]]:
        """The fields that are settings of their own, with their own variable prefix."""
        return {
            name: info.annotation
            for name, info in cls.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, FrozenSettings)
        }


def comma_list(value: object) -> object:
    """``"a, b"`` as ``("a", "b")``: lists are given as comma-separated text."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value
