"""Outbound event subscriptions: an admin subscribes a URL to event types; each event recorded in
siyu.outbox is delivered to it signed, retried with backoff, and every attempt logged (docs/integrations.md)."""
