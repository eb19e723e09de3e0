"""The deployment in deploy/ keeps the order the README promises: migrations once before
the workers, two webhook workers, the proxy in front; and its settings are seedbot's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from seedbot.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_workers_start_after_one_migration_and_behind_the_proxy() -> None:
    services = _compose()["services"]
    workers = [
        name for name, s in services.items() if (s.get("command") or [])[-1:] == ["--webhook"]
    ]
    assert workers == ["worker-1", "worker-2"]
    assert services["migrate"]["command"] == ["seedbot", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in [*workers, "webhook"]:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert upstreams.group(1).split() == [f"{name}:8080" for name in workers]
    assert "health_uri /readyz" in caddyfile


def test_the_settings_named_in_deploy_are_seedbots_own() -> None:
    known = {name.upper() for name in Settings.model_fields}
    example = (DEPLOY / "seedbot.env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    environment = _compose()["x-seedbot"]["environment"]
    assert named | set(environment) <= known
    unit = (DEPLOY / "systemd" / "seedbot-worker@.service").read_text(encoding="utf-8")
    assert set(re.findall(r"^Environment=([A-Z_]+)=", unit, flags=re.MULTILINE)) <= known
    assert "ExecStart=/opt/seedbot/.venv/bin/seedbot run --webhook" in unit
    assert "Requires=seedbot-migrate.service" in unit
