"""Drivers for external systems (email, calendar, bank). Built in issue #6; nothing here yet."""
