"""The console's story pages: the list, a story's evidence, feedback forms; the app itself.

In: HTTP requests (already past :class:`~monitor.console.guard.Guard`: same-origin if they
change anything, with an analyst's name), the store's rows. Out: server-rendered HTML pages
(Jinja2, everything autoescaped, see :mod:`monitor.console.web_base`), feedback sent to
``news.feedback`` through the sink. :func:`create_app` puts these pages, the rule editor's
(:mod:`monitor.console.web_editor`), the probes and ``/metrics`` behind the guard. Every form
works without JavaScript (POST, then 303 back); ``static/console.js`` upgrades them.

Feed text is untrusted and must never reach a page as markup: nothing from the feed is marked
safe, links are made only of ``http(s)`` URLs (:func:`~monitor.console.view.safe_url`), and
evidence is highlighted by cutting text into segments (:func:`~monitor.console.view.highlight`),
never by building HTML. Every request passes :class:`~monitor.console.guard.Guard` first
(cross-origin writes refused, analyst identified, a Content-Security-Policy on every response),
so no template has an inline script or style.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.article import utcnow
from monitor.console import view
from monitor.console.auth import Auth
from monitor.console.guard import Guard
from monitor.console.model import TopicSummary
from monitor.console.sink import FeedbackNotRecorded
from monitor.console.web_base import (
    MAX_ID_CHARS,
    EditorLike,
    FeedbackSinkLike,
    Handlers,
    StoreLike,
    analyst,
    environment,
    form_fields,
    path_param,
    quote_segment,
)
from monitor.console.web_editor import EditorPages
from monitor.feedback import MAX_VOTED_ARTICLES, Feedback
from monitor.metrics import ConsoleMetrics

__all__ = ["create_app"]

log = logging.getLogger(__name__)

SNOOZE_HOURS = (1, 4, 24, 72, 168)
MAX_SNOOZE_HOURS = 24 * 30
_KIND_NAMES = {"vote": "vote", "ack": "acknowledgement", "snooze": "snooze"}


def create_app(*, store: StoreLike, sink: FeedbackSinkLike, editor: EditorLike, auth: Auth,
               topics_dir: Path, ready: Callable[[], bool],
               clock: Callable[[], datetime] = utcnow,
               metrics: ConsoleMetrics | None = None) -> Starlette:
    """Build the console's ASGI app; ``ready`` answers ``/readyz`` (the store caught up).

    With ``metrics``, ``/metrics`` serves them (without login, as the probes: counts only,
    never feed text) and every request is timed by its route.
    """
    env = environment()
    pages = StoryPages(store=store, sink=sink, editor=editor, topics_dir=topics_dir,
                       ready=ready, clock=clock, metrics=metrics, env=env)
    edits = EditorPages(store=store, sink=sink, editor=editor, topics_dir=topics_dir,
                        ready=ready, clock=clock, metrics=metrics, env=env)
    static = Path(__file__).parent / "static"
    routes = [
        Route("/", pages.stories_page),
        Route("/stories/{story_id}", pages.story_page),
        Route("/stories/{story_id}/suggest", edits.suggest_page),
        Route("/stories/{story_id}/vote", pages.vote_story, methods=["POST"]),
        Route("/stories/{story_id}/ack", pages.ack_story, methods=["POST"]),
        Route("/stories/{story_id}/snooze", pages.snooze_story, methods=["POST"]),
        Route("/articles/{article_id}/vote", pages.vote_article, methods=["POST"]),
        Route("/topics/{topic_id}/edit", edits.editor_page),
        Route("/topics/{topic_id}/preview", edits.preview, methods=["POST"]),
        Route("/topics/{topic_id}/save", edits.save, methods=["POST"]),
        Route("/healthz", pages.healthz),
        Route("/readyz", pages.readyz),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    middleware = [Middleware(Guard, auth=auth)]
    if metrics is not None:
        routes.append(Route("/metrics", _metrics_endpoint(metrics)))
        middleware.insert(0, Middleware(Timed, metrics=metrics))
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: pages.http_error})


def _metrics_endpoint(metrics: ConsoleMetrics) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
    return endpoint


class Timed:
    """Times every request by the route that answered it (its path pattern, never the URL)."""

    def __init__(self, app: ASGIApp, metrics: ConsoleMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unrouted"
            self.metrics.requests.labels(route, f"{status // 100}xx").observe(
                time.perf_counter() - began)


# -- pages -----------------------------------------------------------------------------------
class StoryPages(Handlers):
    """The story list, a story, feedback on either, and the probes."""

    # -- probes
    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        ready = self.ready()
        stats = await run_in_threadpool(self.store.stats)
        return JSONResponse({"ready": ready, "rows": stats}, status_code=200 if ready else 503)

    # -- the story list
    async def stories_page(self, request: Request) -> Response:
        return await self.page(self._stories_page, request)

    def _stories_page(self, request: Request) -> Response:
        flt = view.filter_from_query(request.query_params)
        rows = self.store.stories(flt, analyst=analyst(request), now=self.clock())
        topics = self.store.topics()
        older = (view.filter_query(flt, before=rows[-1].last_updated, before_id=rows[-1].story_id)
                 if len(rows) >= flt.limit and rows else None)
        newest = (view.filter_query(flt, before=None, before_id=None)
                  if flt.before is not None else None)
        return self.render("stories.html", request, rows=rows, topics=topics, flt=flt,
                           older=older, newest=newest, ago=lambda w: view.ago(w, self.clock()),
                           query=lambda **c: view.filter_query(
                               flt, before=None, before_id=None, **c),
                           current_topic=_topic_of(topics, flt.topic_id))

    # -- one story
    async def story_page(self, request: Request) -> Response:
        return await self.page(self._story_page, request)

    def _story_page(self, request: Request) -> Response:
        now = self.clock()
        detail = self.detail(request, now)
        by_id = {a.article_id: a for a in detail.articles}
        return self.render("story.html", request, d=detail, s=detail.story, by_id=by_id,
                           ago=lambda w: view.ago(w, now),
                           until=lambda w: view.until_text(w, now),
                           snooze_hours=SNOOZE_HOURS,
                           snoozed=(detail.story.snoozed_until is not None
                                    and detail.story.snoozed_until > now),
                           can_edit=detail.story.topic_id in self.topic_ids())

    # -- feedback
    async def vote_story(self, request: Request) -> Response:
        form = await form_fields(request)
        value = form.get("value")
        if value not in ("up", "down", "none"):
            raise HTTPException(400, "value must be up, down or none")
        return await self.page(self._story_feedback, request, form, "vote", value, None)

    async def ack_story(self, request: Request) -> Response:
        form = await form_fields(request)
        value = form.get("value", "yes")
        if value not in ("yes", "no"):
            raise HTTPException(400, "value must be yes or no")
        return await self.page(self._story_feedback, request, form, "ack", value, None)

    async def snooze_story(self, request: Request) -> Response:
        form = await form_fields(request)
        try:
            hours = float(form.get("hours", ""))
        except ValueError:
            raise HTTPException(400, "hours must be a number (0 to wake the story)") from None
        if not 0 <= hours <= MAX_SNOOZE_HOURS:
            raise HTTPException(400, f"hours must be between 0 and {MAX_SNOOZE_HOURS}")
        until = self.clock() + timedelta(hours=hours) if hours else None
        return await self.page(self._story_feedback, request, form, "snooze", None, until)

    def _story_feedback(self, request: Request, form: Mapping[str, str], kind: str,
                        value: str | None, until: datetime | None) -> Response:
        detail = self.detail(request)
        story = detail.story
        articles = (tuple(a.article_id for a in detail.articles)[:MAX_VOTED_ARTICLES]
                    if kind == "vote" else ())
        fb = Feedback.model_validate({
            "item": "story", "item_id": story.story_id, "topic_id": story.topic_id,
            "analyst": analyst(request), "kind": kind, "value": value, "until": until,
            "articles": articles, "at": self.clock()})
        return self._send(request, fb, form, default=f"/stories/{quote_segment(story.story_id)}")

    async def vote_article(self, request: Request) -> Response:
        form = await form_fields(request)
        value = form.get("value")
        if value not in ("up", "down", "none"):
            raise HTTPException(400, "value must be up, down or none")
        topic_id = form.get("topic", "").strip()
        if not 0 < len(topic_id) <= MAX_ID_CHARS:
            raise HTTPException(400, "topic (the watch topic the vote is about) is missing")
        return await self.page(self._vote_article, request, form, topic_id, value)

    def _vote_article(self, request: Request, form: Mapping[str, str], topic_id: str,
                      value: str) -> Response:
        article_id = path_param(request, "article_id")
        story_id = form.get("story", "")
        if story_id:
            detail = self.store.story(story_id, analyst=analyst(request))
            known = detail is not None and any(
                a.article_id == article_id for a in detail.articles)
            default = f"/stories/{quote_segment(story_id)}"
        else:
            known = self.store.article(article_id) is not None
            default = "/"
        if not known:
            raise HTTPException(404, "No such article in the console's window.")
        fb = Feedback.model_validate({
            "item": "article", "item_id": article_id, "topic_id": topic_id,
            "analyst": analyst(request), "kind": "vote", "value": value, "at": self.clock()})
        return self._send(request, fb, form, default=default)

    def _send(self, request: Request, fb: Feedback, form: Mapping[str, str], *,
              default: str) -> Response:
        try:
            self.sink.send(fb)
        except FeedbackNotRecorded as exc:
            if self.metrics is not None:
                self.metrics.feedback.labels(fb.kind, "not_recorded").inc()
            log.warning("feedback not recorded: %s", exc, extra={"item_id": fb.item_id,
                                                                 "kind": fb.kind})
            return self.render("message.html", request, 503, title="Not recorded",
                               message=f"Your {_KIND_NAMES[fb.kind]} was not recorded: Kafka "
                                       "did not take it. Nothing changed; try again in a "
                                       "moment.")
        if self.metrics is not None:
            self.metrics.feedback.labels(fb.kind, "recorded").inc()
        return RedirectResponse(view.local_path(form.get("next"), default), status_code=303)


def _topic_of(topics: Sequence[TopicSummary], topic_id: str | None) -> TopicSummary | None:
    return next((t for t in topics if t.topic_id == topic_id), None)
