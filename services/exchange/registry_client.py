"""The gateway's client of the registry: the policy decision."""

from __future__ import annotations

from typing import Any

from services.exchange.regional_client import RegionalClient, RegionalServiceDown


class PolicyQuestionRefused(Exception):
    """The registry found the question itself invalid (e.g. a purpose outside the vocabulary)."""


class RegistryClient(RegionalClient):
    name = "registry"

    def decide(self, acting_for: str, request: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", "/v1/policy/decisions", acting_for, json=request)
        if response.status_code == 422:
            raise PolicyQuestionRefused(response.json().get("detail", ""))
        if response.status_code != 200:
            raise RegionalServiceDown(f"The registry answered {response.status_code}.")
        return dict(response.json())
