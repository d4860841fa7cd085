"""Reading settings from environment variables, validated once at start-up.

Every setting the product reads from its environment goes through these
helpers, so a typo in a deployment fails loudly at cold start with the
variable's name instead of surfacing later as a confusing AWS error.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    """The variable's value; without a default the variable is required."""
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"Set the environment variable {name}.")
        return default
    return value


def env_optional(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    return os.environ.get(name) or None


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def env_rate(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """A rate limit written ``requests/seconds`` (``120/60``): whole numbers,
    both at least 1."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    count, _, seconds = raw.strip().partition("/")
    try:
        rate = (int(count), int(seconds))
    except ValueError:
        rate = (0, 0)
    if min(rate) < 1:
        raise ImproperlyConfigured(
            f"{name} must be requests/seconds with whole numbers of at least 1 (e.g. 120/60), "
            f"not {raw!r}."
        )
    return rate
