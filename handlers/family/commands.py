"""What a linked family can ask for: upcoming visits, help, and their language."""

from __future__ import annotations

from handlers.core.context import ButtonSpec, Context
from handlers.core.events import ButtonPressed, FamilyText
from handlers.core.router import Router
from handlers.core.texts import SUPPORTED_LANGUAGES, Msg, When, _, not_linked
from storage.models import ActionToken, Appointment

router = Router()

#: The command menu shown by chat apps, in every language we speak.
COMMAND_MENU: tuple[tuple[str, Msg], ...] = (
    ("next", _("Your upcoming appointments")),
    ("language", _("Change language")),
    ("help", _("What I can do")),
)

#: Language names are shown in their own language, never translated.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def _state(appointment: Appointment) -> Msg:
    if appointment.participant_status == "accepted":
        return _("confirmed")
    if appointment.reschedule_requested_at is not None:
        return _("reschedule requested")
    return _("not yet confirmed")


@router.command("next")
async def upcoming(event: FamilyText, ctx: Context) -> None:
    assert ctx.guardian is not None
    appointments = await ctx.record.appointments.upcoming_for_guardian(ctx.guardian.id, ctx.now)
    if not appointments:
        await ctx.reply(
            _(
                "You have no upcoming appointments. To book one, call {phone}.",
                phone=ctx.practice.phone,
            )
        )
        return
    # The children's names in one query (the guardian's children), not one per visit.
    names = {
        child.id: child.first_name for child in await ctx.record.people.children(ctx.guardian.id)
    }
    lines: dict[str, object] = {}
    for i, appointment in enumerate(appointments):
        lines[f"line{i}"] = _(
            "{child}: {date} at {time} ({state})",
            child=names.get(appointment.patient_id, ""),
            date=When(appointment.start_at, "date"),
            time=When(appointment.start_at, "time"),
            state=_state(appointment),
        )
    await ctx.reply(
        _("Your upcoming appointments:"),
        Msg("\n".join(f"• {{{key}}}" for key in lines), lines),
    )


@router.command("help", linked_only=False)
async def help_text(event: FamilyText, ctx: Context) -> None:
    if ctx.guardian is None:
        await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))
        return
    await ctx.reply(
        _(
            "I'm {practice}'s assistant. I send reminders before appointments, and you can"
            " confirm, cancel or ask to reschedule with one tap.",
            practice=ctx.practice.name,
        ),
        _("/next – your upcoming appointments\n/language – change language\n/help – this message"),
        _(
            "To talk to a person, call {practice} at {phone}.",
            practice=ctx.practice.name,
            phone=ctx.practice.phone,
        ),
    )


@router.command("language")
async def choose_language(event: FamilyText, ctx: Context) -> None:
    _name, wanted = event.command() or ("", "")
    wanted = wanted.lower()[:2]
    if wanted in SUPPORTED_LANGUAGES:
        await _switch(ctx, wanted)
        return
    buttons = tuple(
        ButtonSpec(label=Msg(LANGUAGE_NAMES[code]), action="language", value=code)
        for code in SUPPORTED_LANGUAGES
    )
    await ctx.reply(_("Which language would you like me to use?"), buttons=buttons)


@router.action("language")
async def language_chosen(event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
    if token.value not in SUPPORTED_LANGUAGES:
        ctx.notice = _("Sorry, this button can't be used.")
        return
    await _switch(ctx, token.value)


async def _switch(ctx: Context, language: str) -> None:
    assert ctx.guardian is not None
    await ctx.record.people.set_guardian_language(ctx.guardian.id, language, ctx.now)
    await ctx.audit("guardian.language", "guardian", ctx.guardian.id, language)
    ctx.set_language(language)
    await ctx.reply(_("Okay! I'll write to you in English from now on."))
