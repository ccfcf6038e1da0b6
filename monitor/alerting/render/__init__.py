"""Render a notice for each kind of channel: Slack blocks, an email, a JSON body, a console line.

In: a :class:`~monitor.alerting.notice.Notice`. Out: what one channel sends for it —
:class:`SlackContent` (:func:`slack`), :class:`EmailContent` (:func:`email`), the webhook's
JSON object (:func:`webhook`), the console's text (:func:`console`). Pure functions: no I/O and
no clock (every time shown comes from the notice). They must never let text from a feed
(titles, outlets, matched terms, sentences, URLs; watch topic titles too) reach a reader as
markup, and never drop content without a visible marker saying so.

An alert shows the headline, the watch topic and severity, "3 outlets, 2 independent
sources", when the story was first seen (and its first report published), why it matched (the
distinct terms as the article wrote them, the first evidence sentence) and every report as a
link. An update is short: "+2 new reports" and only those. A digest lists each story held
for it (headline linked, topic, severity, counts, why it was held).

Everywhere, feed text is first made one line (control characters, newlines and bidi overrides
removed, whitespace collapsed), any text cut to length ends with "…", and only ``http``/
``https`` URLs with a host become links (or are kept in the webhook); any other
(``javascript:``, ``data:``, ``mailto:``) shows as "(not linked: …)". Each channel's module
says how it escapes and what limits it keeps:

- :mod:`.text`: cleaning, clipping and URL checks; the line model (text spans with links);
- :mod:`.facts`: what a notice says about a story, the same for every channel;
- :mod:`.slack`: ``plain_text`` where possible, escaped ``mrkdwn`` for links; Block Kit limits;
- :mod:`.mail`: HTML-escaped, inline CSS only; at most 50 reports and 100 stories listed;
- :mod:`.webhook`: strings as the feed gave them, JSON escaping by the serialiser;
- :mod:`.console`: the one-line text, no terminal escape sequence.
"""

from monitor.alerting.render.console import console
from monitor.alerting.render.mail import (
    EMAIL_MAX_REPORTS,
    EMAIL_MAX_STORIES,
    EMAIL_SUBJECT_CHARS,
    EmailContent,
    email,
)
from monitor.alerting.render.slack import (
    SLACK_FIELD_CHARS,
    SLACK_HEADER_CHARS,
    SLACK_MAX_BLOCKS,
    SLACK_MAX_FIELDS,
    SLACK_MESSAGE_CHARS,
    SLACK_SECTION_CHARS,
    SlackContent,
    slack,
)
from monitor.alerting.render.webhook import webhook

__all__ = [
    "EMAIL_MAX_REPORTS",
    "EMAIL_MAX_STORIES",
    "EMAIL_SUBJECT_CHARS",
    "SLACK_FIELD_CHARS",
    "SLACK_HEADER_CHARS",
    "SLACK_MAX_BLOCKS",
    "SLACK_MAX_FIELDS",
    "SLACK_MESSAGE_CHARS",
    "SLACK_SECTION_CHARS",
    "EmailContent",
    "SlackContent",
    "console",
    "email",
    "slack",
    "webhook",
]
