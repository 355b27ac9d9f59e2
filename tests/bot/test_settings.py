"""Settings, .env.example and docker-compose agree."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _env_names(settings_cls: type[Settings]) -> set[str]:
    names = set()
    for name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        names.add("DATABASE_URL" if alias else f"SOLOOS_{name.upper()}")
    return names


def test_env_example_covers_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    mentioned = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert _env_names(Settings) - mentioned == set()


def test_compose_runs_the_app_against_pgvector_with_the_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["db"]["image"].startswith("pgvector/pgvector:")
    app = compose["services"]["app"]
    assert "DATABASE_URL" in app["environment"]
    assert set(app["environment"]) <= _env_names(Settings) | {"DATABASE_URL"}
    assert app["depends_on"]["db"]["condition"] == "service_healthy"


def test_secrets_are_not_printed() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://u:hunter2@db/x", embedder_api_key="sk-secret")  # type: ignore[call-arg]
    assert "hunter2" not in repr(settings) and "sk-secret" not in repr(settings)


def test_dockerfile_is_lean_and_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "download.pytorch.org/whl/cpu" in dockerfile  # never the multi-GB CUDA build
    assert "USER soloos" in dockerfile and "HEALTHCHECK" in dockerfile
    assert dockerfile.count("FROM ") == 2  # build stage + runtime stage
