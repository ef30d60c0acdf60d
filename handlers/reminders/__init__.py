"""Reminders: planned as rows a bounded window ahead (planning), sent when due (dispatcher)."""
