"""Outbound delivery of alerts: CAP 1.2 and JSON webhooks, e-mail, escalation to contacts.

Everything here starts from an :class:`~hub.alert_delivery.notice.AlertNotice`, which holds
numbers, enum words and names of places only, so nothing else can reach a receiver.
"""
