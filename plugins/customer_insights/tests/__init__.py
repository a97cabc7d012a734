"""Tests of the customer_insights extension, run against a real host on either backend."""
