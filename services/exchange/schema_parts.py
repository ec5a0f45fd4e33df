"""What the bodies of the gateway's API share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

CountryCode = Field(pattern=r"^[A-Z]{2}$")
ShortText = Field(min_length=1, max_length=200)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
