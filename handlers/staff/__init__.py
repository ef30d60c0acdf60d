"""The staff side: what staff do in their workspace (Slack), platform-neutral like the rest.

Staff-facing text is in Slack's mrkdwn (the staff channel's format) and in English; anything a
family or clinician wrote is escaped with :func:`handlers.core.desk.escape` before it is shown.
"""
