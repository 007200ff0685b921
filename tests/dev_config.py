"""The configuration the tests run with: the environment given plus the development values
(debug on, development secrets) that make demo, make serve and tests/settings.py set too."""

from __future__ import annotations

from collections.abc import Mapping

from academy.config import DEVELOPMENT_ENV, AppConfig, load_config


def dev_config(environ_map: Mapping[str, str] | None = None) -> AppConfig:
    return load_config({**DEVELOPMENT_ENV, **(environ_map or {})})
