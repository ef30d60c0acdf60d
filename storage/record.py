"""The care record as one object per transaction: every repository over one connection."""

from __future__ import annotations

from functools import cached_property

import aiosqlite

from storage.appointments import AppointmentRepo
from storage.audit import AuditRepo
from storage.escalations import EscalationRepo
from storage.handoffs import CareUpdateRepo, HandoffRepo
from storage.identities import IdentityRepo
from storage.invites import InviteRepo
from storage.messages import MessageRepo
from storage.outbox import OutboxRepo
from storage.people import PeopleRepo
from storage.practice import PracticeRepo
from storage.reminders import ReminderRepo
from storage.staff import StaffRepo
from storage.tokens import ActionTokenRepo
from storage.unusable import UnusableRequestRepo


class Record:
    """The repositories of the care record, bound to one open transaction.

    Each repository is made when first used (most units of work touch two or three).
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @cached_property
    def practice(self) -> PracticeRepo:
        return PracticeRepo(self.conn)

    @cached_property
    def people(self) -> PeopleRepo:
        return PeopleRepo(self.conn)

    @cached_property
    def appointments(self) -> AppointmentRepo:
        return AppointmentRepo(self.conn)

    @cached_property
    def identities(self) -> IdentityRepo:
        return IdentityRepo(self.conn)

    @cached_property
    def messages(self) -> MessageRepo:
        return MessageRepo(self.conn)

    @cached_property
    def reminders(self) -> ReminderRepo:
        return ReminderRepo(self.conn)

    @cached_property
    def audit(self) -> AuditRepo:
        return AuditRepo(self.conn)

    @cached_property
    def invites(self) -> InviteRepo:
        return InviteRepo(self.conn)

    @cached_property
    def tokens(self) -> ActionTokenRepo:
        return ActionTokenRepo(self.conn)

    @cached_property
    def staff(self) -> StaffRepo:
        return StaffRepo(self.conn)

    @cached_property
    def escalations(self) -> EscalationRepo:
        return EscalationRepo(self.conn)

    @cached_property
    def updates(self) -> CareUpdateRepo:
        return CareUpdateRepo(self.conn)

    @cached_property
    def handoffs(self) -> HandoffRepo:
        return HandoffRepo(self.conn)

    @cached_property
    def unusable(self) -> UnusableRequestRepo:
        return UnusableRequestRepo(self.conn)

    @cached_property
    def outbox(self) -> OutboxRepo:
        return OutboxRepo(self.conn)
