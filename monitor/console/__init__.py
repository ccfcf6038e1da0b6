"""The analysts' console: its own process, with a local store rebuilt from Kafka.

- ``store``, ``records``, ``pages``: the SQLite store, how each Kafka record changes it, and
  the reads the pages make;
- ``ingest``: the reader that keeps the store in step with Kafka (no consumer group);
- ``sink``: the analysts' feedback, to ``news.feedback`` and the store;
- ``web``, ``guard``, ``auth``, ``view``, ``templates/``, ``static/``: the pages, their
  security and who the analyst is;
- ``editor`` and the modules it uses: the rule editor, which backtests an edit as it is typed;
- ``commands``: ``newswatch console``.
"""
