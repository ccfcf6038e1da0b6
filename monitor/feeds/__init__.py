"""Feeds: fetch bytes over HTTP, parse them into entries, normalize entries into articles.

``fetch`` never parses, ``parse`` never touches HTTP, ``poller`` is the one orchestrator.
"""
