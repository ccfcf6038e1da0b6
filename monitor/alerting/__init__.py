"""Alerting: route story events to subscribers, decide when, render, deliver, record."""
