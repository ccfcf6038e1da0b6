"""newswatch: a self-hosted, real-time news monitor.

Feeds come in through pollers and land on Kafka as articles; workers tag them against
analysts' watch topics, fold reports of one event into a story, and alert subscribers.
"""

__version__ = "0.1.0"
