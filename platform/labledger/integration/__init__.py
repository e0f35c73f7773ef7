"""Integration: the event feed, signed webhooks and audited import mappings."""
