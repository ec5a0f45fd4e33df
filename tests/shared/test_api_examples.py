"""Issue 9, point 6: `/docs` shows an example body for every request, and every example is a
body the service accepts (it passes the same model the service validates the request with)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.directory import schemas as directory_schemas
from services.directory.app import create_app as directory_app
from services.exchange.agreements import endpoints as agreement_endpoints
from services.exchange.alerts import schemas as alert_schemas
from services.exchange.app import create_app as gateway_app
from services.exchange.referrals import schemas as referral_schemas
from services.exchange.transport import schemas as quarantine_schemas
from services.exchange.webhooks import schemas as webhook_schemas
from services.registry import schemas as registry_schemas
from services.registry.app import create_app as registry_app
from shared.protocol import policy
from shared.protocol.envelope import load_or_create_private_key, public_jwk
from shared.protocol.settings import Settings

# The gateway forwards these bodies to the registry, which validates them with its models.
FORWARDED: dict[tuple[str, str, str], type[BaseModel]] = {
    ("gateway", "post", "/v1/agreements"): registry_schemas.AgreementCreate,
    ("gateway", "post", "/v1/consents"): registry_schemas.ConsentCreate,
    ("gateway", "post", "/v1/consents/{consent_id}/withdrawal"): registry_schemas.Withdrawal,
}


def _models(*modules: ModuleType) -> dict[str, type[BaseModel]]:
    """Request models by their name in the OpenAPI document's components."""
    return {name: value for module in modules for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, BaseModel)}


MODELS = _models(directory_schemas, registry_schemas, referral_schemas, alert_schemas,
                 webhook_schemas, quarantine_schemas, agreement_endpoints, policy)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Each service's OpenAPI document, from its real app (built, not started)."""
    data = tmp_path_factory.mktemp("apps")
    key = public_jwk(load_or_create_private_key(Path(data) / "trusted.jwk"))
    settings = Settings(data_dir=data, database_url=f"sqlite:///{data}/apps.db",
                        gateway_country="MX", gateway_tokens={"mx-sndif": "token"},
                        directory_public_key=key, registry_public_key=key)
    apps: dict[str, FastAPI] = {"directory": directory_app(settings),
                                "registry": registry_app(settings),
                                "gateway": gateway_app(settings)}
    yield {name: app.openapi() for name, app in apps.items()}
    apps["gateway"].state.gateway.directory.close()
    apps["gateway"].state.gateway.registry.close()


def _bodies(documents: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, str, Any]]:
    for service, document in documents.items():
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if "requestBody" in operation:
                    yield service, method, path, operation["requestBody"]


def _examples(media: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    return [example["value"] for example in media.get("examples", {}).values()]


def test_every_request_body_has_an_example_the_service_accepts(
        documents: dict[str, dict[str, Any]]) -> None:
    checked = set()
    for service, method, path, body in _bodies(documents):
        media = body["content"]["application/json"]
        examples = _examples(media)
        assert examples, f"{service} {method.upper()} {path} has no example body"
        ref = media["schema"].get("$ref")
        model = MODELS[ref.rsplit("/", 1)[-1]] if ref else FORWARDED[(service, method, path)]
        for example in examples:
            # As over the wire: JSON text, validated by the model the endpoint declares.
            model.model_validate_json(json.dumps(example))
        checked.add((service, method, path))
    assert len(checked) >= 27  # every service's writes, not a document that lost its paths
    assert {("directory", "post", "/v1/institutions"), ("registry", "post", "/v1/agreements"),
            ("gateway", "post", "/v1/referrals"), ("gateway", "post", "/v1/consents")} <= checked


def test_the_examples_read_in_the_models_field_order(
        documents: dict[str, dict[str, Any]]) -> None:
    media = documents["gateway"]["paths"]["/v1/referrals"]["post"]["requestBody"]["content"]
    referral = _examples(media["application/json"])[0]
    assert list(referral) == ["recipient_id", "case_reference", "purpose", "record"]
    assert list(referral["record"])[:2] == ["child", "accompaniment"]
    assert list(referral["record"]["child"])[:2] == ["given_names", "family_names"]


def test_the_example_referral_fills_every_section_with_obviously_fictitious_names() -> None:
    example = referral_schemas.REFERRAL_EXAMPLE
    record = example["record"]
    assert set(record) == set(referral_schemas.ReferralRecord.model_fields)
    names = [record["child"]["family_names"]] + [
        relative["name"] for relative in record["family"]["relatives"]]
    assert names and all("Ficticio" in name for name in names), names


def test_a_wrong_example_would_be_caught() -> None:
    wrong = {**agreement_endpoints.CONSENT_EXAMPLE, "child_views": None}
    with pytest.raises(ValueError, match="child_views"):
        registry_schemas.ConsentCreate.model_validate_json(json.dumps(wrong))
