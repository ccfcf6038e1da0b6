"""The console's pages: stories, a story's evidence, feedback forms, the rule editor.

In: HTTP requests (already past :class:`Guard`: same-origin if they change anything, with an
analyst's name), the store's rows, the editor's previews. Out: server-rendered HTML pages
(Jinja2, everything autoescaped), feedback sent to ``news.feedback`` through the sink, watch
topics saved through the editor. Every form works without JavaScript (POST, then 303 back);
``static/console.js`` upgrades them.

Feed text is untrusted and must never reach a page as markup: the templates come from this
module's own Jinja2 environment with ``autoescape=True`` for every template (Starlette's
default escapes only some file names), nothing from the feed is marked safe, links are made
only of ``http(s)`` URLs (:func:`~monitor.console.view.safe_url`), and evidence is highlighted
by cutting text into segments (:func:`~monitor.console.view.highlight`), never by building
HTML. Every request passes :class:`~monitor.console.guard.Guard` first (cross-origin writes
refused, analyst identified, a Content-Security-Policy on every response), so no template has
an inline script or style.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.article import SEVERITIES, utcnow
from monitor.console import view
from monitor.console.auth import Auth
from monitor.console.editor import Opened, Preview, Problem, Saved, Suggestion
from monitor.console.guard import Guard
from monitor.console.model import (
    ArticleView,
    StoryDetail,
    StoryFilter,
    StoryRow,
    TopicSummary,
)
from monitor.console.sink import FeedbackNotRecorded
from monitor.feedback import MAX_VOTED_ARTICLES, Feedback
from monitor.metrics import ConsoleMetrics

log = logging.getLogger(__name__)

#: Sent by console.js on the editor's preview: answer with the fragment, not the whole page.
FRAGMENT_HEADER = "x-console-fragment"
SNOOZE_HOURS = (1, 4, 24, 72, 168)
MAX_SNOOZE_HOURS = 24 * 30
#: Shorter spans the editor's backtest offers besides its whole window.
EDITOR_DAYS = (1, 2, 3, 7, 14, 30)
#: Longest watch-topic YAML the editor takes; a real one is a few KB.
MAX_YAML_CHARS = 200_000
MAX_ID_CHARS = 200


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


def create_app(*, store: StoreLike, sink: FeedbackSinkLike, editor: EditorLike, auth: Auth,
               topics_dir: Path, ready: Callable[[], bool],
               clock: Callable[[], datetime] = utcnow,
               metrics: ConsoleMetrics | None = None) -> Starlette:
    """Build the console's ASGI app; ``ready`` answers ``/readyz`` (the store caught up).

    With ``metrics``, ``/metrics`` serves them (without login, as the probes: counts only,
    never feed text) and every request is timed by its route.
    """
    pages = _Pages(store, sink, editor, topics_dir, ready, clock, metrics)
    static = Path(__file__).parent / "static"
    routes = [
        Route("/", pages.stories_page),
        Route("/stories/{story_id}", pages.story_page),
        Route("/stories/{story_id}/suggest", pages.suggest_page),
        Route("/stories/{story_id}/vote", pages.vote_story, methods=["POST"]),
        Route("/stories/{story_id}/ack", pages.ack_story, methods=["POST"]),
        Route("/stories/{story_id}/snooze", pages.snooze_story, methods=["POST"]),
        Route("/articles/{article_id}/vote", pages.vote_article, methods=["POST"]),
        Route("/topics/{topic_id}/edit", pages.editor_page),
        Route("/topics/{topic_id}/preview", pages.preview, methods=["POST"]),
        Route("/topics/{topic_id}/save", pages.save, methods=["POST"]),
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
                       severities=SEVERITIES, delta=view.delta, quote=_quote,
                       day_chart=view.day_chart)
    return env


def _quote(value: str) -> str:
    """A path segment of an URL (ids come from the feed's producers: never trust them)."""
    return quote(value, safe="")


# -- pages -----------------------------------------------------------------------------------
class _Pages:
    """The route handlers. Store, editor and sink calls block: they run in the thread pool."""

    def __init__(self, store: StoreLike, sink: FeedbackSinkLike, editor: EditorLike,
                 topics_dir: Path, ready: Callable[[], bool],
                 clock: Callable[[], datetime], metrics: ConsoleMetrics | None) -> None:
        self.metrics = metrics
        self.store = store
        self.sink = sink
        self.editor = editor
        self.topics_dir = topics_dir
        self.ready = ready
        self.clock = clock
        self.env = environment()

    # -- rendering
    def render(self, name: str, request: Request, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(
            analyst=_analyst(request), now=self.clock(), path=request.url.path,
            here=_here(request), **context)
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
        analyst = _analyst(request)
        rows = self.store.stories(flt, analyst=analyst, now=self.clock())
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
        detail = self._detail(request, now)
        by_id = {a.article_id: a for a in detail.articles}
        return self.render("story.html", request, d=detail, s=detail.story, by_id=by_id,
                           ago=lambda w: view.ago(w, now),
                           until=lambda w: view.until_text(w, now),
                           snooze_hours=SNOOZE_HOURS,
                           snoozed=(detail.story.snoozed_until is not None
                                    and detail.story.snoozed_until > now),
                           can_edit=detail.story.topic_id in self._topic_ids())

    def _detail(self, request: Request, now: datetime | None = None) -> StoryDetail:
        story_id = _param(request, "story_id")
        detail = self.store.story(story_id, analyst=_analyst(request), now=now or self.clock())
        if detail is None:
            raise HTTPException(404, "No story with this id in the console's window: it may "
                                     "have expired, or the store is still catching up.")
        return detail

    # -- feedback
    async def vote_story(self, request: Request) -> Response:
        form = await _form(request)
        value = form.get("value")
        if value not in ("up", "down", "none"):
            raise HTTPException(400, "value must be up, down or none")
        return await self.page(self._story_feedback, request, form, "vote", value, None)

    async def ack_story(self, request: Request) -> Response:
        form = await _form(request)
        value = form.get("value", "yes")
        if value not in ("yes", "no"):
            raise HTTPException(400, "value must be yes or no")
        return await self.page(self._story_feedback, request, form, "ack", value, None)

    async def snooze_story(self, request: Request) -> Response:
        form = await _form(request)
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
        detail = self._detail(request)
        story = detail.story
        articles = (tuple(a.article_id for a in detail.articles)[:MAX_VOTED_ARTICLES]
                    if kind == "vote" else ())
        fb = Feedback.model_validate({
            "item": "story", "item_id": story.story_id, "topic_id": story.topic_id,
            "analyst": _analyst(request), "kind": kind, "value": value, "until": until,
            "articles": articles, "at": self.clock()})
        return self._send(request, fb, form, default=f"/stories/{_quote(story.story_id)}")

    async def vote_article(self, request: Request) -> Response:
        form = await _form(request)
        value = form.get("value")
        if value not in ("up", "down", "none"):
            raise HTTPException(400, "value must be up, down or none")
        topic_id = form.get("topic", "").strip()
        if not 0 < len(topic_id) <= MAX_ID_CHARS:
            raise HTTPException(400, "topic (the watch topic the vote is about) is missing")
        return await self.page(self._vote_article, request, form, topic_id, value)

    def _vote_article(self, request: Request, form: Mapping[str, str], topic_id: str,
                      value: str) -> Response:
        article_id = _param(request, "article_id")
        story_id = form.get("story", "")
        if story_id:
            detail = self.store.story(story_id, analyst=_analyst(request))
            known = detail is not None and any(
                a.article_id == article_id for a in detail.articles)
            default = f"/stories/{_quote(story_id)}"
        else:
            known = self.store.article(article_id) is not None
            default = "/"
        if not known:
            raise HTTPException(404, "No such article in the console's window.")
        fb = Feedback.model_validate({
            "item": "article", "item_id": article_id, "topic_id": topic_id,
            "analyst": _analyst(request), "kind": "vote", "value": value, "at": self.clock()})
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

    # -- suggested edits
    async def suggest_page(self, request: Request) -> Response:
        return await self.page(self._suggest_page, request)

    def _suggest_page(self, request: Request) -> Response:
        detail = self._detail(request)
        topic_id = detail.story.topic_id
        if topic_id not in self._topic_ids():
            raise HTTPException(404, f"The watch topic {topic_id!r} has no file to edit here.")
        suggestions = self.editor.suggest(detail.story.story_id)
        opened = self._open(topic_id)
        return self.render("suggest.html", request, d=detail, s=detail.story,
                           suggestions=suggestions, opened=opened)

    # -- the rule editor
    async def editor_page(self, request: Request) -> Response:
        return await self.page(self._editor_page, request)

    def _editor_page(self, request: Request) -> Response:
        topic_id = self._editable(request)
        opened = self._open(topic_id)
        saved = request.query_params.get("saved") == "1"
        return self._editor(request, topic_id, text=opened.text, version=opened.version,
                            article=request.query_params.get("article", "")[:MAX_ID_CHARS],
                            days=self._days(request.query_params.get("days")), preview=None,
                            message="Saved. The workers pick the change up on their own."
                            if saved else None)

    def _editor(self, request: Request, topic_id: str, *, text: str, version: str,
                article: str, days: int | None, preview: Preview | None, status: int = 200,
                message: str | None = None, problems: Sequence[Problem] = ()) -> Response:
        """The editor page: the text, the controls, and the preview or problems if any."""
        flt = StoryFilter(topic_id=topic_id, limit=10, include_snoozed=True)
        choices: dict[str, str] = {}
        for row in self.store.stories(flt):
            detail = self.store.story(row.story_id)
            for a in detail.articles if detail else ():
                choices.setdefault(a.article_id, f"{a.outlet}: {a.title}"[:120])
        return self.render("editor.html", request, status, topic_id=topic_id, text=text,
                           version=version, article=article, days=days,
                           days_choices=[n for n in EDITOR_DAYS if n < self.editor.days],
                           window_days=self.editor.days, choices=choices, p=preview,
                           message=message, problems=problems,
                           chart=view.day_chart(preview.per_day) if preview else None)

    def _editable(self, request: Request) -> str:
        topic_id = _param(request, "topic_id")
        if topic_id not in self._topic_ids():
            raise HTTPException(404, f"No watch topic {topic_id!r} in {self.topics_dir}.")
        return topic_id

    def _days(self, value: str | None) -> int | None:
        """The backtest's span in days, at most the editor's window; ``None``: all of it."""
        try:
            days = int(value or "")
        except ValueError:
            return None
        return days if 0 < days < self.editor.days else None

    def _topic_ids(self) -> list[str]:
        return self.editor.topic_ids()

    def _open(self, topic_id: str) -> Opened:
        try:
            return self.editor.open(topic_id)
        except KeyError:
            raise HTTPException(404, f"No watch topic {topic_id!r} in {self.topics_dir}.") \
                from None

    async def preview(self, request: Request) -> Response:
        form = await _form(request)
        return await self.page(self._preview, request, form)

    def _preview(self, request: Request, form: Mapping[str, str]) -> Response:
        topic_id = self._editable(request)
        text = _yaml_of(form)
        article = form.get("article", "").strip()[:MAX_ID_CHARS]
        days = self._days(form.get("days"))
        result = self.editor.preview(topic_id, text, article_id=article or None, days=days)
        if request.headers.get(FRAGMENT_HEADER):
            return self.render("preview.html", request, topic_id=topic_id, p=result,
                               chart=view.day_chart(result.per_day), article=article)
        return self._editor(request, topic_id, text=text, version=form.get("version", ""),
                            article=article, days=days, preview=result)

    async def save(self, request: Request) -> Response:
        form = await _form(request)
        return await self.page(self._save, request, form)

    def _save(self, request: Request, form: Mapping[str, str]) -> Response:
        topic_id = self._editable(request)
        text = _yaml_of(form)
        version = form.get("version", "")
        saved = self.editor.save(topic_id, text, version)
        if saved.status == "ok":
            log.info("watch topic saved", extra={"topic_id": topic_id,
                                                 "analyst": _analyst(request)})
            return RedirectResponse(f"/topics/{_quote(topic_id)}/edit?saved=1", status_code=303)
        article = form.get("article", "").strip()[:MAX_ID_CHARS]
        if saved.status == "conflict":
            return self._editor(
                request, topic_id, text=text, version=version, article=article,
                days=self._days(form.get("days")), preview=None, status=409,
                message="Not saved: someone changed this watch topic since you opened it. Your "
                        "text is below; open the editor again in another tab to see theirs.")
        if saved.status == "unwritable":
            return self._editor(
                request, topic_id, text=text, version=version, article=article,
                days=self._days(form.get("days")), preview=None, status=503,
                message=f"Not saved: the watch-topic directory refused the file "
                        f"({saved.reason}). Where watch topics are deployed read-only, copy "
                        "the YAML below into the repository instead.")
        return self._editor(request, topic_id, text=text, version=version, article=article,
                            days=self._days(form.get("days")), preview=None, status=422,
                            message="Not saved: the watch topic has problems.",
                            problems=saved.problems)


# -- helpers ---------------------------------------------------------------------------------
_STATUS_TITLES = {400: "Bad request", 404: "Not found", 409: "Conflict", 503: "Unavailable"}
_KIND_NAMES = {"vote": "vote", "ack": "acknowledgement", "snooze": "snooze"}


def _analyst(request: Request) -> str:
    return str(request.scope.get("state", {}).get("analyst", ""))


def _here(request: Request) -> str:
    """This page's path and query, for the forms' ``next`` field."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _param(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not 0 < len(value) <= MAX_ID_CHARS:
        raise HTTPException(404, "No such item.")
    return value


async def _form(request: Request) -> dict[str, str]:
    """The request's form fields (the first of each name); files are refused."""
    async with request.form(max_files=0, max_fields=50) as form:
        return {k: v for k, v in form.items() if isinstance(v, str)}


def _yaml_of(form: Mapping[str, str]) -> str:
    text = form.get("yaml", "")
    if len(text) > MAX_YAML_CHARS:
        raise HTTPException(400, f"The watch topic is longer than {MAX_YAML_CHARS} characters.")
    return text.replace("\r\n", "\n")


def _topic_of(topics: Sequence[TopicSummary], topic_id: str | None) -> TopicSummary | None:
    return next((t for t in topics if t.topic_id == topic_id), None)

