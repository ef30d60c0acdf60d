"""The families' conversations (Telegram and SMS alike): each module has a router."""
