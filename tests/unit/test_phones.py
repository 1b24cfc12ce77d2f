"""Phone numbers are normalised before they are masked or compared (issue 8, item 10)."""

from __future__ import annotations

import pytest

from services.kernel.masking import mask_customer, mask_phone
from services.kernel.phones import (
    InvalidPhoneNumber,
    default_region,
    normalise_phone,
    set_default_region,
)
from services.notifications.masking import mask_address

ONE_NUMBER = [
    "+8613912345678",
    "8613912345678",
    "139 1234 5678",
    "139-1234-5678",
    "+86 139 1234 5678",
    "008613912345678",
    "13912345678",
]


@pytest.mark.parametrize("written", ONE_NUMBER)
def test_every_form_of_one_number_normalises_to_e164(written: str) -> None:
    assert normalise_phone(written) == "+8613912345678"


@pytest.mark.parametrize("written", ONE_NUMBER)
def test_every_form_of_one_number_masks_alike(written: str) -> None:
    # Before: `+8613912345678` masked as `861******5678`, showing the country code.
    assert mask_phone(written) == "139****5678"
    assert mask_customer({"phone": written})["phone"] == "139****5678"
    assert mask_address("sms", written) == "139****5678"


def test_a_landline_keeps_its_area_code_without_the_trunk_zero() -> None:
    assert normalise_phone("010 1234 5678") == "+861012345678"
    assert mask_phone("010-1234-5678") == "101***5678"


def test_a_foreign_number_keeps_its_own_country_code() -> None:
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert mask_phone("+44 20 7946 0958") == "207***0958"


def test_the_default_region_is_configurable() -> None:
    assert default_region() == "CN"
    try:
        set_default_region("gb")
        assert normalise_phone("020 7946 0958") == "+442079460958"
    finally:
        set_default_region("CN")
    with pytest.raises(ValueError):
        set_default_region("XX")


@pytest.mark.parametrize("text", ["", "abc", "12"])
def test_what_is_not_a_number_is_refused_and_masked_in_full(text: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone(text)
    assert "".join(ch for ch in mask_phone(text) if ch.isdigit()) == ""


def test_a_masked_number_is_not_unmasked_further() -> None:
    assert mask_phone("139****5678") == "*******"
