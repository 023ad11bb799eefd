"""JSON → proto → JSON keeps every documented field, and every drifted one."""

from __future__ import annotations

import pytest
from revox.types import CampaignGetRowsResponse, CampaignRetrieveResponse

from gateway.convert import decode, encode
from generated.revox.campaigns.v1 import (
    assistant_pb2,
    campaign_pb2,
    campaign_service_pb2,
    row_pb2,
)

from . import samples


def test_samples_are_the_seed_shapes() -> None:
    # The official SDK of the seed's API version accepts them strictly, so the
    # round trips below exercise the real shapes.
    CampaignRetrieveResponse.model_validate({"campaign": samples.campaign()}, strict=False)
    CampaignGetRowsResponse.model_validate(samples.rows_page())


def _same_instant(a: str, b: str) -> bool:
    from datetime import datetime

    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00"))


def test_campaign_round_trip_keeps_every_field() -> None:
    source = samples.campaign()
    message = decode(source, campaign_pb2.Campaign)
    assert message.status == campaign_pb2.CAMPAIGN_STATUS_RUNNING
    assert message.assistant.llm_model.dedicated_instance.name == assistant_pb2.LLM_MODEL_NAME_MINISTRAL_3_8B_INSTRUCT
    assert message.assistant.voice.speed == 1.25
    assert message.row_stats.total == 15
    assert not message.HasField("extra_fields")
    back = encode(message)
    assert _same_instant(back.pop("scheduled_at"), source.pop("scheduled_at"))
    assert _same_instant(back["assistant"].pop("updated_at"), source["assistant"].pop("updated_at"))
    assert _same_instant(back.pop("updated_at"), source.pop("updated_at"))
    assert back == source


def test_row_round_trip_keeps_every_field() -> None:
    source = samples.rows_page()
    message = decode(source, campaign_service_pb2.ListCampaignRowsResponse)
    call = message.rows[0].call
    assert call.status == row_pb2.CALL_STATUS_COMPLETED
    assert call.last_call_attempt.result == row_pb2.CALL_RESULT_IOS_SCREENING_FILTER
    assert call.last_call_attempt.transcript[2].tool_arguments_object["q"] == "x"
    assert call.last_call_attempt.transcript[3].tool_arguments_text == "raw-args"
    assert call.assistant.llm_model.openrouter.openrouter_provider == "azure"
    assert message.rows[0].input_data["first_name"] == "Zoë"
    back = encode(message)
    assert _normalise_times(back) == _normalise_times(source)


def _normalise_times(value: object) -> object:
    if isinstance(value, dict):
        return {k: _normalise_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_times(v) for v in value]
    if isinstance(value, str) and value == samples.T1.replace("Z", ".000Z"):
        return samples.T1
    return value


def test_drifted_campaign_keeps_unknown_fields_and_literals() -> None:
    source = samples.drifted_campaign()
    message = decode(source, campaign_pb2.Campaign)
    assert message.status == campaign_pb2.CAMPAIGN_STATUS_UNSPECIFIED
    assert message.status_raw == "archived"
    assert message.extra_fields["funnel_stats"]["converted"] == 1.5
    assert "assignee" in message.extra_fields
    assert message.extra_fields["created_at"] == 1764230000
    assert not message.HasField("created_at")
    voice = message.assistant.voice
    assert (voice.provider, voice.provider_raw) == (assistant_pb2.VOICE_PROVIDER_GRADIUM, "gradium")
    assert voice.extra_fields["model"] == "sonic-3"
    llm = message.assistant.llm_model
    assert llm.type == "realtime" and llm.WhichOneof("model") is None
    assert llm.extra_fields["realtime_model_id"] == "gpt-rt"
    assert message.assistant.extra_fields["max_call_duration_secs"] == "600"
    assert message.row_stats.extra_fields["post_processing"] == 7
    back = encode(message)
    assert _same_instant(back.pop("scheduled_at"), source.pop("scheduled_at"))
    assert _same_instant(back.pop("updated_at"), source.pop("updated_at"))
    assert _same_instant(back["assistant"].pop("updated_at"), source["assistant"].pop("updated_at"))
    assert back == source


def test_drifted_row_keeps_unknown_fields_and_literals() -> None:
    source = samples.drifted_row()
    message = decode(source, row_pb2.Row)
    call = message.call
    assert (call.status, call.status_raw) == (row_pb2.CALL_STATUS_POST_PROCESSING, "post_processing")
    assert call.extra_fields["outcome"] == "interested"
    assert (call.last_call_attempt.result, call.last_call_attempt.result_raw) == (0, "fax-machine")
    assert call.extra_fields["metadata"] == {"count": 3}
    assert call.llm_model.type == "custom" and call.llm_model.extra_fields["model_name"] == "m"
    assert call.call_attempts[0].transcript[0].role_raw == "system"
    assert message.extra_fields["row_index"] == 1.5
    assert _normalise_times(encode(message)) == _normalise_times(source)


@pytest.mark.parametrize("bad", [[], "x", 3, True])
def test_a_misfit_object_never_raises(bad: object) -> None:
    message = decode({"call": bad, "input_data": bad, "row_index": bad}, row_pb2.Row)
    assert set(message.extra_fields.keys()) <= {"call", "input_data", "row_index"}
