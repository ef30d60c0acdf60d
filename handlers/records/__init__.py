"""The practice's records brought in: CSV imports (checked, streamed, batched) and the demo."""
