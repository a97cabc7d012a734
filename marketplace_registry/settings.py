"""An installation's settings, checked against the schema its manifest declares.

Plain settings live on the installation (``Installation.settings``, handed to hooks as
``context.settings``); ``secret`` settings are stored encrypted in the installation's storage
and read by the extension with ``context.secret_get(name)``, never shown back in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ValidationFailed
from core.plugins.manifest import Manifest, SettingDeclaration


def secret_key(name: str) -> str:
    """The storage key of a secret setting (what ``context.secret_get`` takes)."""
    return name


def validate(manifest: Manifest, values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The settings ``values`` converted and checked, by name.

    With ``partial`` (an edit) only the given settings are checked; otherwise (an install)
    every required setting must be given and the others default from the manifest.

    :raises ValidationFailed: naming ``settings.<name>`` for each bad or unknown setting.
    """
    if not isinstance(values, Mapping):
        raise ValidationFailed({"settings": ["Give the settings as an object."]})
    declared = {setting.name: setting for setting in manifest.settings}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {} if partial else manifest.setting_defaults()
    for name in sorted(set(values) - set(declared)):
        errors[f"settings.{name}"] = [f"{manifest.name} has no setting {name!r}."]
    for name, setting in declared.items():
        if name not in values:
            if not partial and setting.required and clean.get(name) in (None, ""):
                errors[f"settings.{name}"] = ["This setting is required."]
            continue
        try:
            clean[name] = _convert(setting, values[name])
        except ValueError as problem:
            errors[f"settings.{name}"] = [str(problem)]
    if errors:
        raise ValidationFailed(errors)
    return clean


def split_secrets(
    manifest: Manifest, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(plain settings, secret settings): the secrets go to encrypted storage, not the record."""
    secret_names = {s.name for s in manifest.settings if s.type == "secret"}
    plain = {k: v for k, v in values.items() if k not in secret_names}
    secrets = {k: v for k, v in values.items() if k in secret_names and v not in (None, "")}
    return plain, secrets


def _convert(setting: SettingDeclaration, value: Any) -> Any:
    """One setting's value in its type; form posts give text, JSON gives typed values."""
    if value is None or value == "":
        if setting.required:
            raise ValueError("This setting is required.")
        return setting.default if setting.type != "secret" else None
    if setting.type == "boolean":
        return _boolean(value)
    if setting.type == "integer":
        return _integer(setting, value)
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    value = value.strip()
    if setting.type == "choice" and value not in setting.choices:
        raise ValueError(f"Must be one of: {', '.join(setting.choices)}.")
    if len(value) > 4000:
        raise ValueError("At most 4000 characters.")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "on", "1", "yes"}:
        return True
    if isinstance(value, str) and value.lower() in {"false", "off", "0", "no"}:
        return False
    raise ValueError("Must be true or false.")


def _integer(setting: SettingDeclaration, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("Must be a whole number.")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as error:
            raise ValueError("Must be a whole number.") from error
    if not isinstance(value, int):
        raise ValueError("Must be a whole number.")
    if setting.minimum is not None and value < setting.minimum:
        raise ValueError(f"Must be at least {setting.minimum}.")
    if setting.maximum is not None and value > setting.maximum:
        raise ValueError(f"Must be at most {setting.maximum}.")
    return value
