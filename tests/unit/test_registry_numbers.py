"""Numbers DynamoDB cannot hold: its magnitudes range from 1E-130 to 9.99...E+125, and a PutItem with a
smaller one is refused ("Number underflow"). The canary analysis records p-values, which for a glaring
regression are far smaller (1e-200): stored as 0, as a float underflows, instead of failing the look."""

from __future__ import annotations

from sluice.adapters.registry import from_item, to_item


def test_a_float_below_dynamodbs_smallest_magnitude_is_stored_as_zero() -> None:
    item = to_item({"p_value": 1.2e-200, "z": -3e-140, "nested": {"values": [4e-131, 0.5]}})
    assert item["p_value"] == {"N": "0"}
    assert item["z"] == {"N": "0"}
    assert item["nested"] == {"M": {"values": {"L": [{"N": "0"}, {"N": "0.5"}]}}}
    assert from_item(item) == {"p_value": 0, "z": 0, "nested": {"values": [0, 0.5]}}


def test_floats_within_dynamodbs_range_are_kept() -> None:
    item = to_item({"smallest": 1e-130, "small": 1.5e-130, "zero": 0.0, "rate": 0.0125, "big": 9.9e125})
    assert item["big"] == {"N": "9.9E+125"}
    del item["big"]
    assert from_item(item) == {"smallest": 1e-130, "small": 1.5e-130, "zero": 0, "rate": 0.0125}
