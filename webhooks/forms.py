"""Reading Twilio-style request parameters: PascalCase, dotted nesting, repeated keys for arrays."""

from __future__ import annotations

from datetime import datetime

from werkzeug.datastructures import MultiDict

from bridge.errors import invalid
from bridge.timeutil import parse_datetime
from bridge.validation import UNSET

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


class Params:
    """Typed access to form or query parameters. Unknown parameters are ignored, as Twilio does."""

    def __init__(self, values: MultiDict[str, str]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def str(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is not None and "\x00" in value:
            raise invalid(f"{name} must not contain NUL characters")
        return value

    def given(self, name: str) -> str | object:
        """The value, or UNSET when the parameter was not sent (updates distinguish the two)."""
        value = self.str(name)
        return UNSET if value is None else value

    def required(self, name: str) -> str:
        value = self.str(name)
        if value is None or value == "":
            raise invalid(f"Missing required parameter {name}")
        return value

    def bool(self, name: str) -> bool | object:
        value = self.str(name)
        if value is None or value == "":
            return UNSET
        lowered = value.strip().lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise invalid(f"{name} must be true or false")

    def int(self, name: str, minimum: int | None = None, maximum: int | None = None) -> int | object:
        value = self.str(name)
        if value is None or value == "":
            return UNSET
        try:
            number = int(value.strip())
        except ValueError:
            raise invalid(f"{name} must be an integer") from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise invalid(f"{name} is out of range")
        return number

    def datetime(self, name: str) -> datetime | object:
        value = self.str(name)
        if value is None or value == "":
            return UNSET
        try:
            return parse_datetime(value)
        except ValueError:
            raise invalid(f"{name} must be an ISO-8601 date-time such as 2024-01-31T12:00:00Z") from None

    def given_list(self, name: str) -> list[str] | object:
        """The values of a repeated parameter, or UNSET when it was not sent at all (an update leaves it)."""
        return self.list(name) if name in self else UNSET

    def list(self, name: str) -> list[str]:
        values = self.values.getlist(name)
        for value in values:
            if "\x00" in value:
                raise invalid(f"{name} must not contain NUL characters")
        return values


def optional(value: object) -> object | None:
    """UNSET -> None, for create calls where absent and default are the same thing."""
    return None if value is UNSET else value
