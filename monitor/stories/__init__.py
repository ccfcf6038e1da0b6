"""Stories: fold the matches of one watch topic that report one event into one story.

- :mod:`~monitor.stories.fold`: the decision, joins story S because ... or opens a new one
  (the method and why it was chosen are in its docstring);
- :mod:`~monitor.stories.book`: the open stories of one watch topic, their indexes, and the
  events folding emits;
- :mod:`~monitor.stories.fingerprint`, :mod:`~monitor.stories.embed`,
  :mod:`~monitor.stories.copies`, :mod:`~monitor.stories.index`: what a report is compared on
  and how candidates are found;
- :mod:`~monitor.stories.commands`: ``newswatch stories``, the same folding over a file.

No Kafka and no Faust here: ``monitor/app.py`` wires :class:`StoryBook` to the stream.
"""
