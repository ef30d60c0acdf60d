"""The staff side: what staff do in their workspace (Slack), platform-neutral like the rest.

Staff-facing text is content (:mod:`handlers.core.content`), in English; the staff channel's
renderer writes it (Slack: mrkdwn, with everything a family or clinician wrote escaped).
"""
