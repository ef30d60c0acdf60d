"""The care record as one object per transaction: every repository over one connection."""

from __future__ import annotations

import aiosqlite

from storage.appointments import AppointmentRepo
from storage.audit import AuditRepo
from storage.escalations import EscalationRepo
from storage.handoffs import CareUpdateRepo, HandoffRepo
from storage.identities import IdentityRepo
from storage.invites import InviteRepo
from storage.messages import MessageRepo
from storage.people import PeopleRepo
from storage.practice import PracticeRepo
from storage.reminders import ReminderRepo
from storage.staff import StaffRepo
from storage.tokens import ActionTokenRepo


class Record:
    """The repositories of the care record, bound to one open transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.practice = PracticeRepo(conn)
        self.people = PeopleRepo(conn)
        self.appointments = AppointmentRepo(conn)
        self.identities = IdentityRepo(conn)
        self.messages = MessageRepo(conn)
        self.reminders = ReminderRepo(conn)
        self.audit = AuditRepo(conn)
        self.invites = InviteRepo(conn)
        self.tokens = ActionTokenRepo(conn)
        self.staff = StaffRepo(conn)
        self.escalations = EscalationRepo(conn)
        self.updates = CareUpdateRepo(conn)
        self.handoffs = HandoffRepo(conn)
