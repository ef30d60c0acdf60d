"""Linking a family's Telegram account with a one-time invite and the child's birth date."""

from __future__ import annotations

from datetime import timedelta

from tests.handlers.conftest import ANA, CARMEN, STRANGER
from tests.harness import Harness


async def identity_of(h: Harness, address: str) -> object:
    return await h.scalar(
        "SELECT guardian_id FROM channel_identity WHERE address = ? AND verified_at IS NOT NULL",
        address,
    )


async def test_an_unlinked_person_gets_a_polite_explanation_and_nothing_from_the_record(
    h: Harness,
) -> None:
    await h.appointment("a-1", "p-maya", h.clock.now() + timedelta(days=2))
    for text in ("hi, when is Maya's appointment?", "/next", "/start", "/help"):
        replies = await h.send(STRANGER, text)
        assert len(replies) == 1
        assert "only help families the practice has invited" in replies[0].body
        assert "+1 555 010 2030" in replies[0].body
        assert "Maya" not in replies[0].body and not replies[0].buttons


async def test_invite_then_the_right_birth_date_links_the_account(h: Harness) -> None:
    token = await h.invite("g-ana")
    assert len(token) <= 64
    [ask] = await h.send(ANA, f"/start {token}")
    assert "date of birth" in ask.body and "Maya" not in ask.body
    [done] = await h.send(ANA, "3/14/2019")
    assert "Thank you, Ana! You're all set." in done.body
    assert await identity_of(h, ANA) == "g-ana"
    assert await h.scalar("SELECT used_at IS NOT NULL FROM invite") == 1
    assert (
        await h.scalar(
            "SELECT COUNT(*) FROM audit_event"
            " WHERE action = 'identity.linked' AND actor_id = 'g-ana'"
        )
        == 1
    )


async def test_an_invite_works_once(h: Harness) -> None:
    token = await h.invite("g-ana")
    await h.send(ANA, f"/start {token}")
    await h.send(ANA, "2019-03-14")
    [again] = await h.send(STRANGER, f"/start {token}")
    assert "can't be used" in again.body
    await h.send(STRANGER, "2019-03-14")
    assert await identity_of(h, STRANGER) is None


async def test_five_wrong_answers_burn_the_invite(h: Harness) -> None:
    token = await h.invite("g-ana")
    await h.send(STRANGER, f"/start {token}")
    for tries_left in (4, 3, 2, 1):
        [reply] = await h.send(STRANGER, "01/01/2019")
        assert f"(attempts left: {tries_left})" in reply.body
    [burned] = await h.send(STRANGER, "01/01/2019")
    assert "can no longer be used" in burned.body
    # Even the right answer, or the same link again, links nothing now.
    replies = await h.send(STRANGER, "03/14/2019")
    assert "only help families" in replies[0].body
    [refused] = await h.send(STRANGER, f"/start {token}")
    assert "can't be used" in refused.body
    assert await identity_of(h, STRANGER) is None
    assert await h.scalar("SELECT burned_at IS NOT NULL FROM invite") == 1


async def test_text_that_is_not_a_date_does_not_count_as_a_try(h: Harness) -> None:
    token = await h.invite("g-ana")
    await h.send(ANA, f"/start {token}")
    [reply] = await h.send(ANA, "I think it was in March")
    assert "couldn't read that date" in reply.body
    assert await h.scalar("SELECT failed_attempts FROM invite") == 0


async def test_an_expired_invite_is_refused(h: Harness) -> None:
    token = await h.invite("g-ana")
    h.clock.advance(timedelta(days=7, seconds=1))
    [reply] = await h.send(ANA, f"/start {token}")
    assert "can't be used" in reply.body
    assert await h.scalar("SELECT COUNT(*) FROM pending_link") == 0


async def test_a_spanish_family_is_asked_in_spanish_and_dates_read_day_first(h: Harness) -> None:
    token = await h.invite("g-carmen")
    [ask] = await h.send(CARMEN, f"/start {token}", language_hint="en")
    assert "fecha de nacimiento" in ask.body
    assert "día/mes/año" in ask.body
    [done] = await h.send(CARMEN, "09/11/2020")  # 9 November 2020, Sofía
    assert "Carmen" in done.body and "listo" in done.body
    assert await identity_of(h, CARMEN) == "g-carmen"


async def test_a_linked_family_starting_again_is_welcomed_back(linked: Harness) -> None:
    [reply] = await linked.send(ANA, "/start")
    assert "Welcome back, Ana" in reply.body
