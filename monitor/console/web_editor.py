"""The rule editor's pages: open a watch topic, preview an edit's backtest, save it, suggest one.

In: requests for ``/topics/{id}/edit|preview|save`` and ``/stories/{id}/suggest`` (already
past :class:`~monitor.console.guard.Guard`), the YAML an analyst typed. Out: the editor page,
or only its preview fragment when ``console.js`` asks (:data:`FRAGMENT_HEADER`); a saved file
through :class:`~monitor.console.editor.Editor`, which writes it only when it is valid and
nobody changed it since it was opened. The typed text is never lost: every refusal (422
problems, 409 conflict, 503 read-only directory) shows it again with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.console import view
from monitor.console.editor import Opened, Preview, Problem
from monitor.console.model import StoryFilter
from monitor.console.web_base import (
    MAX_ID_CHARS,
    Handlers,
    analyst,
    form_fields,
    path_param,
    quote_segment,
)

log = logging.getLogger(__name__)

#: Sent by console.js on the editor's preview: answer with the fragment, not the whole page.
FRAGMENT_HEADER = "x-console-fragment"
#: Shorter spans the editor's backtest offers besides its whole window.
EDITOR_DAYS = (1, 2, 3, 7, 14, 30)
#: Longest watch-topic YAML the editor takes; a real one is a few KB.
MAX_YAML_CHARS = 200_000


class EditorPages(Handlers):
    """The editor's route handlers."""

    # -- suggested edits
    async def suggest_page(self, request: Request) -> Response:
        return await self.page(self._suggest_page, request)

    def _suggest_page(self, request: Request) -> Response:
        detail = self.detail(request)
        topic_id = detail.story.topic_id
        if topic_id not in self.topic_ids():
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
        topic_id = path_param(request, "topic_id")
        if topic_id not in self.topic_ids():
            raise HTTPException(404, f"No watch topic {topic_id!r} in {self.topics_dir}.")
        return topic_id

    def _days(self, value: str | None) -> int | None:
        """The backtest's span in days, at most the editor's window; ``None``: all of it."""
        try:
            days = int(value or "")
        except ValueError:
            return None
        return days if 0 < days < self.editor.days else None

    def _open(self, topic_id: str) -> Opened:
        try:
            return self.editor.open(topic_id)
        except KeyError:
            raise HTTPException(404, f"No watch topic {topic_id!r} in {self.topics_dir}.") \
                from None

    async def preview(self, request: Request) -> Response:
        form = await form_fields(request)
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
        form = await form_fields(request)
        return await self.page(self._save, request, form)

    def _save(self, request: Request, form: Mapping[str, str]) -> Response:
        topic_id = self._editable(request)
        text = _yaml_of(form)
        version = form.get("version", "")
        saved = self.editor.save(topic_id, text, version)
        if saved.status == "ok":
            log.info("watch topic saved", extra={"topic_id": topic_id,
                                                 "analyst": analyst(request)})
            return RedirectResponse(f"/topics/{quote_segment(topic_id)}/edit?saved=1",
                                    status_code=303)
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


def _yaml_of(form: Mapping[str, str]) -> str:
    text = form.get("yaml", "")
    if len(text) > MAX_YAML_CHARS:
        raise HTTPException(400, f"The watch topic is longer than {MAX_YAML_CHARS} characters.")
    return text.replace("\r\n", "\n")
