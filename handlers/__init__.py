"""What the bot does, platform-neutral, grouped by what the practice does.

- ``core/``: the framework every capability passes through: the event types, the router, the
  chain and the pipeline around it, the handler's context, translatable texts, staff screens.
- ``family/``: the families' conversations: linking, answers to reminders, commands, carrier
  keywords, numbered replies, escalation to a person (and the emergency net).
- ``staff/``: the staff desk: escalations, updates, handoffs, the day and a patient, the watch.
- ``reminders/``: planning reminders as rows and sending what is due, in allowed hours.
- ``records/``: importing the practice's records (CSV) and the demo practice.
"""
