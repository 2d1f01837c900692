"""The webhook notifier against a receiver that verifies Standard Webhooks signatures on its own."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from dockwatch.bot.errors import RetryLater, TargetGone
from dockwatch.bot.model import ChangeKind, Message, Revision
from dockwatch.notifiers.base import EditingNotifier
from dockwatch.notifiers.webhook import WebhookConfig, WebhookNotifier, mask_url, target_key, webhook_body
from tests.builders import DETECTED_KINDS, correction_of, messages_of_every_kind
from tests.conftest import SECRET
from tests.fakes.webhook_receiver import WebhookReceiver

SCHEMA = json.loads((Path(__file__).parents[1] / "notifiers" / "webhook.schema.json").read_text())
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def notifier(http: aiohttp.ClientSession, webhook_receiver: WebhookReceiver) -> WebhookNotifier:
    return WebhookNotifier([WebhookConfig(url=webhook_receiver.url, secret=SECRET)], http, timeout=1)


def docked_message() -> Message:
    return messages_of_every_kind()[ChangeKind.DOCKED]


@pytest.mark.parametrize("kind", list(ChangeKind), ids=[k.value for k in ChangeKind])
def test_every_body_kind_matches_the_published_schema(kind: ChangeKind) -> None:
    body = webhook_body(messages_of_every_kind()[kind])

    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["type"] == kind.value


def test_the_schema_rejects_a_docking_body_without_its_docking_event_id() -> None:
    body: dict[str, Any] = webhook_body(docked_message())
    del body["data"]["docking_event_id"]

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, SCHEMA)


def test_a_relocation_body_names_both_ports() -> None:
    data = webhook_body(messages_of_every_kind()[ChangeKind.RELOCATED])["data"]

    assert (data["previous_port"]["name"], data["port"]["name"]) == ("Prichal nadir", "Rassvet nadir")


async def test_a_delivery_is_signed_and_verifies_at_the_receiver(
    notifier: WebhookNotifier, webhook_receiver: WebhookReceiver
) -> None:
    message = docked_message()
    (target,) = notifier.targets()

    await notifier.send(target.key, message, delivery_id=1)

    (received,) = webhook_receiver.received
    assert received.verified
    assert received.id == "docked:1"
    assert received.headers["content-type"] == "application/json"
    assert received.json == webhook_body(message)


async def test_a_receiver_with_another_secret_rejects_the_signature(
    http: aiohttp.ClientSession, webhook_receiver: WebhookReceiver
) -> None:
    other = "whsec_" + "A" * 32
    notifier = WebhookNotifier([WebhookConfig(url=webhook_receiver.url, secret=other)], http)

    with pytest.raises(RetryLater, match="HTTP 400"):
        await notifier.send(target_key(webhook_receiver.url), docked_message(), delivery_id=1)

    assert [r.verified for r in webhook_receiver.received] == [False]


async def test_retries_send_the_same_body_and_id_with_a_fresh_signature(
    http: aiohttp.ClientSession, webhook_receiver: WebhookReceiver
) -> None:
    ticks = iter([NOW, NOW + timedelta(seconds=10)])
    notifier = WebhookNotifier(
        [WebhookConfig(url=webhook_receiver.url, secret=SECRET)], http, clock=lambda: next(ticks)
    )
    webhook_receiver.secret = SECRET
    key = target_key(webhook_receiver.url)

    for _ in range(2):
        # The receiver rejects the old timestamp; this test compares only what was sent.
        with contextlib.suppress(RetryLater):
            await notifier.send(key, docked_message(), delivery_id=1)

    first, second = webhook_receiver.received
    assert first.body == second.body
    assert first.id == second.id
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(410, TargetGone), (500, RetryLater), (404, RetryLater), (401, RetryLater)],
    ids=["410 gone disables", "500 retries", "404 retries", "401 retries"],
)
async def test_receiver_statuses_map_to_typed_failures(
    notifier: WebhookNotifier, webhook_receiver: WebhookReceiver, status: int, error: type[Exception]
) -> None:
    webhook_receiver.statuses.append(status)

    with pytest.raises(error, match=f"HTTP {status}"):
        await notifier.send(notifier.targets()[0].key, docked_message(), delivery_id=1)


async def test_a_429_carries_the_receivers_retry_after(
    notifier: WebhookNotifier, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.statuses.append(429)
    webhook_receiver.headers_for_status[429] = {"Retry-After": "30"}

    with pytest.raises(RetryLater) as caught:
        await notifier.send(notifier.targets()[0].key, docked_message(), delivery_id=1)

    assert caught.value.retry_after == 30


async def test_redirects_are_not_followed(
    http: aiohttp.ClientSession, webhook_receiver: WebhookReceiver
) -> None:
    moved = webhook_receiver.url.replace("/hook", "/moved")
    notifier = WebhookNotifier([WebhookConfig(url=moved, secret=SECRET)], http)

    with pytest.raises(RetryLater, match="redirect"):
        await notifier.send(target_key(moved), docked_message(), delivery_id=1)

    assert webhook_receiver.received == []


async def test_a_receiver_slower_than_the_timeout_is_retried_later(
    notifier: WebhookNotifier, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.delay_seconds = 3

    with pytest.raises(RetryLater, match="no answer within 1 s"):
        await notifier.send(notifier.targets()[0].key, docked_message(), delivery_id=1)


def test_target_labels_never_show_the_path_or_query() -> None:
    assert mask_url("https://hooks.example.org/T0K3N/abc?sig=1") == "https://hooks.example.org/…"
    assert mask_url("https://user:pw@example.org/") == "https://example.org"


async def test_configured_webhooks_get_the_15_second_timeout(http: aiohttp.ClientSession) -> None:
    notifier = WebhookNotifier([WebhookConfig(url="https://x.test/h", secret=SECRET)], http)

    assert notifier.timeout == 15


def test_a_webhook_post_cannot_be_edited(http: aiohttp.ClientSession) -> None:
    notifier = WebhookNotifier([WebhookConfig(url="https://hooks.test/x", secret=SECRET)], http)

    assert not isinstance(notifier, EditingNotifier)


LATER = NOW + timedelta(hours=3)


def validate(body: dict[str, Any]) -> None:
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())


def test_a_rescheduled_docking_is_a_corrected_body_naming_the_original() -> None:
    body = webhook_body(correction_of(docked_message(), Revision.RESCHEDULED, LATER))

    validate(body)
    assert body["type"] == "notification.corrected"
    assert {name: body["data"][name] for name in ("corrects", "reason", "expected", "original_type")} == {
        "corrects": "docked:1",
        "reason": "rescheduled",
        "expected": "2026-01-01T15:00:00Z",
        "original_type": "docking.docked",
    }
    assert body["data"]["docking"] == "2026-01-01T15:00:00Z"  # the fact as LL2 tells it now


def test_a_withdrawn_docking_is_corrected_without_an_expected_time_or_a_docking_time() -> None:
    body = webhook_body(correction_of(docked_message(), Revision.WITHDRAWN, None))

    validate(body)
    assert body["data"]["reason"] == "withdrawn"
    assert "expected" not in body["data"] and "docking" not in body["data"]


def test_a_refined_departure_is_an_updated_body_with_the_whole_new_payload() -> None:
    departed = messages_of_every_kind()[ChangeKind.DEPARTED]
    refined = correction_of(departed, Revision.REFINED, NOW - timedelta(minutes=3))

    body = webhook_body(refined)

    validate(body)
    assert body["type"] == "notification.updated"
    assert body["data"] == {
        "updates": departed.key,
        "original_type": "docking.departed",
        **{k: v for k, v in webhook_body(departed)["data"].items() if k != "departure"},
        "departure": "2026-01-01T11:57:00Z",
    }


@pytest.mark.parametrize("reason", list(Revision), ids=[r.value for r in Revision])
@pytest.mark.parametrize("kind", DETECTED_KINDS, ids=[k.value for k in DETECTED_KINDS])
def test_every_correction_of_every_kind_matches_the_published_schema(
    kind: ChangeKind, reason: Revision
) -> None:
    when = None if reason is Revision.WITHDRAWN else LATER
    body = webhook_body(correction_of(messages_of_every_kind()[kind], reason, when))

    validate(body)
    assert body["data"]["original_type"] == kind.value


@pytest.mark.parametrize("reason", list(Revision), ids=[r.value for r in Revision])
def test_the_schema_rejects_a_correction_with_a_field_it_does_not_know(reason: Revision) -> None:
    body = webhook_body(correction_of(docked_message(), reason, LATER))
    body["data"]["surprise"] = True

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, SCHEMA)


def test_the_schema_rejects_an_updated_departure_without_its_departure() -> None:
    departed = messages_of_every_kind()[ChangeKind.DEPARTED]
    body = webhook_body(correction_of(departed, Revision.REFINED, None))

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, SCHEMA)


def test_the_schema_rejects_correction_fields_on_an_announcement() -> None:
    body = webhook_body(docked_message())
    body["data"]["corrects"] = "docked:0"

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, SCHEMA)


async def test_a_correction_is_delivered_under_its_own_webhook_id(
    notifier: WebhookNotifier, webhook_receiver: WebhookReceiver
) -> None:
    correction = correction_of(docked_message(), Revision.RESCHEDULED, LATER)

    await notifier.send(notifier.targets()[0].key, correction, delivery_id=2)

    (received,) = webhook_receiver.received
    assert received.verified
    assert received.id == "correction:1:docked:1"
    assert received.json["data"]["corrects"] == "docked:1"


def test_every_example_body_in_the_readme_matches_the_schema() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    contract = readme[readme.index("## The webhook contract") :].split("\n## ", 1)[0]
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", contract, re.DOTALL)]

    for body in examples:
        validate(body)
    assert [body["type"] for body in examples] == [
        "docking.docked",
        "docking.reminder",
        "notification.corrected",
        "notification.updated",
    ]
