"""Tests of the ticket_history extension, run against a real host on either backend."""
