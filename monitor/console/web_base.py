"""What every page handler of the console shares: templates, the thread pool, request helpers.

In: the store, the editor and the feedback sink the console was started with (their
interfaces are the ``...Like`` protocols below), and each request. Out: rendered pages and
the request's checked parts (analyst, path ids, form fields), or an ``HTTPException`` whose
page :meth:`Handlers.http_error` renders. The story pages are :mod:`monitor.console.web`'s,
the editor's :mod:`monitor.console.web_editor`'s.

Feed text is untrusted and must never reach a page as markup: the templates come from this
module's own Jinja2 environment (:func:`environment`) with ``autoescape=True`` for every
template (Starlette's default escapes only some file names), and nothing from the feed is
marked safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from monitor.article import SEVERITIES
from monitor.console import view
from monitor.console.editor import Opened, Preview, Saved, Suggestion
from monitor.console.model import ArticleView, StoryDetail, StoryFilter, StoryRow, TopicSummary
from monitor.feedback import Feedback
from monitor.metrics import ConsoleMetrics

MAX_ID_CHARS = 200
_STATUS_TITLES = {400: "Bad request", 404: "Not found", 409: "Conflict", 503: "Unavailable"}


class StoreLike(Protocol):
    """What the pages read of :class:`monitor.console.store.Store`."""

    def topics(self) -> list[TopicSummary]: ...
    def stories(self, flt: StoryFilter, *, analyst: str | None = None,
                now: datetime | None = None) -> list[StoryRow]: ...
    def story(self, story_id: str, *, analyst: str | None = None,
              now: datetime | None = None) -> StoryDetail | None: ...
    def article(self, article_id: str, *, topic_id: str | None = None,
                analyst: str | None = None) -> ArticleView | None: ...
    def stats(self) -> dict[str, int]: ...


class FeedbackSinkLike(Protocol):
    """Sends one piece of feedback and waits for Kafka's ack; raises
    :class:`~monitor.console.sink.FeedbackNotRecorded` when Kafka did not take it."""

    def send(self, fb: Feedback) -> None: ...


class EditorLike(Protocol):
    """What the pages use of :class:`monitor.console.editor.Editor`."""

    days: int

    def topic_ids(self) -> list[str]: ...
    def open(self, topic_id: str) -> Opened: ...
    def preview(self, topic_id: str, text: str, *, article_id: str | None = None,
                days: int | None = None) -> Preview: ...
    def save(self, topic_id: str, text: str, version: str) -> Saved: ...
    def suggest(self, story_id: str) -> Sequence[Suggestion]: ...


def environment() -> jinja2.Environment:
    """The templates' own Jinja2 environment: autoescape on for every template, whatever its name.

    ``StrictUndefined``: a template that reads a field the data does not have fails loudly
    instead of rendering nothing.
    """
    env = jinja2.Environment(loader=jinja2.PackageLoader("monitor.console"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(safe_url=view.safe_url, stamp=view.stamp, ratio=view.ratio,
                       dom_id=view.dom_id, lang_code=view.lang_code)
    env.globals.update(highlight=view.highlight, evidence_terms=view.evidence_terms,
                       severities=SEVERITIES, delta=view.delta, quote=quote_segment,
                       day_chart=view.day_chart)
    return env


class Handlers:
    """Route handlers' common ground. Store, editor and sink calls block: they run in the
    thread pool (:meth:`page`)."""

    def __init__(self, *, store: StoreLike, sink: FeedbackSinkLike, editor: EditorLike,
                 topics_dir: Path, ready: Callable[[], bool], clock: Callable[[], datetime],
                 metrics: ConsoleMetrics | None, env: jinja2.Environment) -> None:
        self.metrics = metrics
        self.store = store
        self.sink = sink
        self.editor = editor
        self.topics_dir = topics_dir
        self.ready = ready
        self.clock = clock
        self.env = env

    def render(self, name: str, request: Request, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(
            analyst=analyst(request), now=self.clock(), path=request.url.path,
            here=here(request), **context)
        return HTMLResponse(html, status_code=status)

    async def page(self, build: Callable[..., Response], *args: Any) -> Response:
        return await run_in_threadpool(build, *args)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return PlainTextResponse("Method not allowed.", status_code=405)
        return await run_in_threadpool(
            lambda: self.render("message.html", request, exc.status_code,
                                title=_STATUS_TITLES.get(exc.status_code, "Error"),
                                message=exc.detail))

    def detail(self, request: Request, now: datetime | None = None) -> StoryDetail:
        """The story named by the path's ``story_id``; 404 when the store does not hold it."""
        story_id = path_param(request, "story_id")
        detail = self.store.story(story_id, analyst=analyst(request), now=now or self.clock())
        if detail is None:
            raise HTTPException(404, "No story with this id in the console's window: it may "
                                     "have expired, or the store is still catching up.")
        return detail

    def topic_ids(self) -> list[str]:
        """The watch topics the editor can open."""
        return self.editor.topic_ids()


def analyst(request: Request) -> str:
    """Who is asking, as :class:`~monitor.console.guard.Guard` identified them."""
    return str(request.scope.get("state", {}).get("analyst", ""))


def here(request: Request) -> str:
    """This page's path and query, for the forms' ``next`` field."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def path_param(request: Request, name: str) -> str:
    """An id from the path; 404 when it is empty or too long to be one."""
    value = str(request.path_params[name])
    if not 0 < len(value) <= MAX_ID_CHARS:
        raise HTTPException(404, "No such item.")
    return value


async def form_fields(request: Request) -> dict[str, str]:
    """The request's form fields (the first of each name); files are refused."""
    async with request.form(max_files=0, max_fields=50) as form:
        return {k: v for k, v in form.items() if isinstance(v, str)}


def quote_segment(value: str) -> str:
    """A path segment of an URL (ids come from the feed's producers: never trust them)."""
    return quote(value, safe="")

