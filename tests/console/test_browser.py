"""The analysts' console in a real browser, over a real pipeline run.

Feeds served locally → poller → Kafka → worker (tag, fold, alert) → the console's own reader →
pages in Debian's chromium, driven by Playwright. One run of the pipeline per module; each test
opens its own browser context, logged in with basic auth as the analyst ``mina``.

- a story from the run appears with its evidence;
- a feed title carrying ``<script>`` and ``<!channel>`` is shown as text, runs nothing;
- a 👎 lands on ``news.feedback`` with the analyst's name;
- a cross-origin POST is refused and changes nothing;
- an edit that breaks the YAML shows the error and its line and cannot be saved;
- an edit that adds a veto shows the matches it loses before anything is saved;
- axe-core finds no serious or critical violation on the main pages.

With ``NEWSWATCH_SCREENSHOTS=DIR`` the main pages are also saved there at 1280x800 (how the
screenshots in ``docs/`` are made).

Playwright's sync API runs its own event loop in a thread: a session-scoped instance breaks
every pytest-asyncio test that runs after it, so the browser here is module-scoped.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from shutil import copytree
from typing import Any
from urllib.parse import quote, unquote
from uuid import uuid4
from xml.sax.saxutils import escape

import bcrypt
import pytest

from monitor.article import Article
from monitor.config import Settings
from monitor.feedback import Feedback
from tests.chaos.harness import Stage, poller_stage, stage_env, wait_until, worker_stage
from tests.httpserver import HTTPServer
from tests.kafkaread import read_topic
from tests.test_app import produce

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

ROOT = Path(__file__).parents[2]
CHROMIUM = Path(os.environ.get("NEWSWATCH_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__import__("axe_core_python").__file__).parent / "axe.min.js"
ANALYST, PASSWORD = "mina", "correct horse battery staple"
#: Flags for a machine with no network beyond loopback (Chromium's background fetches would
#: otherwise fail, many at a time) and no sandbox as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}

# Our own text: three outlets report the 15 September 2023 deterrence talks in Seoul, one of
# them in Korean; and an article whose feed title carries markup and a Slack mention.
SEOUL_TALKS = [
    ("Example Wire", "en", "Allies warn Pyongyang and Moscow at deterrence talks in Seoul",
     "South Korean and US officials meeting in Seoul on Friday for the Extended Deterrence "
     "Strategy and Consultation Group said arms dealing between North Korea and Russia would "
     "violate Security Council resolutions. Vice Foreign Minister Chang Ho-jin said both "
     "governments would pay a price for their military cooperation."),
    ("Han River Times", "en", "Seoul, Washington say North Korea-Russia arms ties carry a cost",
     "At the fourth Extended Deterrence Strategy Consultative Group, held in Seoul for the "
     "first time, South Korea and the United States told North Korea and Russia that their "
     "military cooperation breaches UN Security Council resolutions. First Vice Foreign "
     "Minister Jang Ho-jin led the Korean delegation."),
    ("서울경제신문", "ko", "한미, 서울서 확장억제 협의…\"북러 무기 거래는 안보리 결의 위반\"",
     "한국과 미국은 15일 서울에서 열린 확장억제전략협의체 회의에서 북한과 러시아의 무기 거래와 "
     "군사 협력은 유엔 안보리 결의 위반이며 대가를 치르게 될 것이라고 밝혔다. 장호진 외교부 "
     "1차관이 한국 측 대표로 참석했다."),
]
HOSTILE_TITLE = '<script>alert("owned")</script> <!channel> North Korea ships artillery shells'
HOSTILE_TEXT = ("North Korea has shipped more artillery shells to Russia by rail, officials "
                "said on Friday, pointing to deepening military cooperation between them.")
#: A veto added to nk-russia-arms's existing ``none:`` list (its examples still pass).
VETO = '    - any: [deterrence, "확장억제*"]\n'


@dataclass
class Pipeline:
    url: str
    settings: Settings
    topics: Path
    stages: list[Stage]
    hostile_id: str


def rss(outlet: str, items: list[tuple[str, str, str]]) -> bytes:
    now = datetime.now(UTC)
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(url)}</link>"
        f"<guid>{escape(url)}</guid><description>{escape(text)}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=30 - 5 * i))}</pubDate></item>"
        for i, (title, url, text) in enumerate(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(outlet)}</title><link>https://example.org/</link>{body}"
            f"</channel></rss>").encode()


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Pipeline]:
    work = tmp_path_factory.mktemp("console")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_namespace=f"t{uuid4().hex[:10]}",
                        cache_dir=Settings.from_env().cache_dir)
    topics = work / "topics"
    copytree(ROOT / "topics", topics)
    users = work / "users"
    users.write_text(f"# the analysts of this test\n{ANALYST}:"
                     f"{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    with HTTPServer() as feeds_host:
        feeds = work / "feeds.yaml"
        lines = ["feeds:"]
        for n, (outlet, language, title, text) in enumerate(SEOUL_TALKS):
            path = f"/feed{n}.xml"
            feeds_host.route(path, body=rss(outlet, [
                (title, f"https://outlet{n}.example/seoul-talks", text)]))
            lines += [f"  - id: outlet-{n}", f"    url: {feeds_host.url(path)}",
                      f"    outlet: {outlet}", f"    language: {language}", "    interval: 1m"]
        feeds.write_text("\n".join(lines) + "\n")
        worker = worker_stage(settings, topics, work / "worker")
        poller = poller_stage(settings, feeds, work / "poller")
        console = Stage("console", [sys.executable, "-m", "monitor", "console", "--topics",
                                    str(topics), "--db", str(work / "console.sqlite3")],
                        env={**stage_env(settings, work / "console"),
                             "NEWSWATCH_CONSOLE_USERS_FILE": str(users)},
                        workdir=work / "console", port_option="--port")
        stages = [worker, poller, console]
        with worker, poller, console:
            worker.start()
            console.start().wait_serving()
            worker.wait_serving()
            poller.start()
            now = datetime.now(UTC)
            hostile = Article(article_id=f"hostile-{uuid4().hex[:8]}", feed_id="odd-feed",
                              outlet="Odd Feed", url="javascript:alert(1)", title=HOSTILE_TITLE,
                              text=HOSTILE_TEXT, language="en",
                              published_at=now - timedelta(minutes=20), fetched_at=now)
            produce(settings, [(hostile.article_id.encode(), hostile.to_json())])
            url = f"http://127.0.0.1:{console.port}"
            wait_until(lambda: stories_shown(url) >= 2, timeout=240,
                       what="the Seoul story and the odd feed's story in the console",
                       stages=stages)
            # The three reports fold into one story: wait until the console has all three.
            wait_until(lambda: reports_of_seoul_story(url) == 3, timeout=180,
                       what="three reports in the Seoul story", stages=stages)
            yield Pipeline(url, settings, topics, stages, hostile.article_id)


def _get(url: str) -> str:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": _basic()})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def _basic() -> str:
    import base64

    return "Basic " + base64.b64encode(f"{ANALYST}:{PASSWORD}".encode()).decode()


def stories_shown(url: str) -> int:
    try:
        return len(re.findall(r'class="story-row', _get(url + "/")))
    except OSError:
        return 0


def seoul_story_path(url: str) -> str | None:
    page = _get(url + "/?topic=nk-russia-arms")
    found = re.search(r'href="(/stories/[^"]+)"[^>]*>[^<]*(?:Allies warn|Seoul, Washington|한미)',
                      page)
    return found.group(1) if found else None


def reports_of_seoul_story(url: str) -> int:
    try:
        path = seoul_story_path(url)
        if path is None:
            return 0
        found = re.search(r"Reports \((\d+)\)", _get(url + path))
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: tools/install installs Debian's chromium")
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, pipeline: Pipeline) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, base_url=pipeline.url,
                                  http_credentials={"username": ANALYST, "password": PASSWORD})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


def open_seoul_story(page: Any, pipeline: Pipeline) -> str:
    path = seoul_story_path(pipeline.url)
    assert path, "the Seoul story is not on the list"
    page.goto(path)
    return path


def test_a_story_from_the_pipeline_appears_with_its_evidence(page: Any,
                                                             pipeline: Pipeline) -> None:
    page.goto("/")
    assert page.locator(".story-row").count() >= 2
    page.get_by_role("link", name=re.compile("Allies warn|Seoul, Washington|한미")).first.click()
    page.wait_for_url(re.compile(r"/stories/"))
    assert page.get_by_role("heading", name=re.compile(r"Reports \(3\)")).is_visible()
    body = page.locator("main").inner_text()
    for outlet in ("Example Wire", "Han River Times", "서울경제신문"):
        assert outlet in body
    marks = page.locator("mark").all_inner_texts()
    assert any(m.lower().startswith(("north korea", "pyongyang", "북한")) for m in marks), marks
    assert not page.errors, page.errors
    shoot(page, "console-story.png")


def test_a_feed_title_carrying_markup_is_shown_as_text(page: Any, pipeline: Pipeline) -> None:
    page.goto("/")
    hostile = page.get_by_text("<!channel>", exact=False).first
    assert "<script>" in hostile.inner_text()
    # The only scripts are the console's own file: nothing from the feed became an element.
    assert page.evaluate("[...document.scripts].every(s => s.src.endsWith('/static/console.js'))")
    hostile.click()
    page.wait_for_url(re.compile(r"/stories/"))
    assert page.get_by_role("heading", level=1).inner_text().startswith('<script>alert("owned")')
    # Its javascript: URL is no link.
    assert page.locator("a[href^='javascript:']").count() == 0
    assert not page.dialogs and not page.errors, (page.dialogs, page.errors)


def test_a_thumbs_down_lands_on_news_feedback_with_the_analysts_name(
        page: Any, pipeline: Pipeline) -> None:
    open_seoul_story(page, pipeline)
    story_id = page.url.rsplit("/", 1)[1]
    triage = page.locator("#story-state")
    triage.get_by_role("button", name=re.compile("Not relevant")).click()
    page.locator("#story-state .vote-down[aria-pressed=true]").wait_for()
    # The live region is emptied and then filled a moment later, so that a repeated message
    # is announced again: wait for the words, not just for the button.
    page.locator("[aria-live]", has_text=re.compile("not relevant", re.I)).wait_for(timeout=3000)

    def recorded() -> list[Feedback]:
        records = read_topic(pipeline.settings.kafka_bootstrap,
                             pipeline.settings.topic("feedback"))
        return [fb for fb in (Feedback.from_json(r.value) for r in records)
                if fb.item == "story" and fb.kind == "vote"]

    wait_until(lambda: bool(recorded()), timeout=30, what="the vote on news.feedback")
    [vote] = recorded()
    assert (vote.analyst, vote.value, vote.topic_id) == (ANALYST, "down", "nk-russia-arms")
    assert quote(vote.item_id, safe="") == story_id or vote.item_id == unquote(story_id)
    assert len(vote.articles) == 3
    # Withdraw it, so that the other tests see the story as the pipeline made it.
    triage.get_by_role("button", name=re.compile("Not relevant")).click()
    page.locator("#story-state .vote-down[aria-pressed=false]").wait_for()


def test_a_cross_origin_post_is_refused_and_changes_nothing(page: Any,
                                                            pipeline: Pipeline) -> None:
    path = open_seoul_story(page, pipeline)
    assert page.get_by_role("button", name="Acknowledge").is_visible()
    with HTTPServer() as elsewhere:
        elsewhere.route("/", body=(
            f'<!doctype html><form id="f" method="post" action="{pipeline.url}{path}/ack">'
            f'<input name="value" value="yes"></form>'
            f"<script>document.getElementById('f').submit()</script>").encode(),
            headers={"Content-Type": "text/html"})
        with page.expect_navigation(url=re.compile(re.escape(pipeline.url))):
            page.goto(elsewhere.url("/"))
        assert "cross-origin" in page.content().lower() or "refused" in page.content().lower()
    page.goto(path)
    assert page.get_by_role("button", name="Acknowledge").is_visible()


def edit(page: Any, text: str) -> None:
    page.locator("#yaml").fill(text)
    page.locator("#yaml").press("End")  # a keystroke, as an analyst types


def test_a_broken_edit_shows_its_line_and_cannot_be_saved(page: Any,
                                                          pipeline: Pipeline) -> None:
    path = pipeline.topics / "nk-russia-arms.yaml"
    before = path.read_bytes()
    page.goto("/topics/nk-russia-arms/edit")
    original = page.locator("#yaml").input_value()
    broken = original.replace("severity: high", "severity: high\n  oops: [unclosed", 1)
    edit(page, broken)
    problem = page.locator("#preview .problems li").first
    problem.wait_for(timeout=10_000)
    # The broken line is the one after "severity: high".
    line = original[:original.index("severity: high")].count("\n") + 2
    assert problem.inner_text().startswith(f"line {line}"), problem.inner_text()
    assert page.locator("#save").is_disabled()
    # The server refuses it too, whatever a page does.
    version = page.locator("input[name=version]").input_value()
    answer = page.request.post("/topics/nk-russia-arms/save",
                               form={"yaml": broken, "version": version})
    assert answer.status == 422
    assert path.read_bytes() == before


def test_an_edit_adding_a_veto_shows_the_matches_it_loses_before_saving(
        page: Any, pipeline: Pipeline) -> None:
    path = pipeline.topics / "nk-russia-arms.yaml"
    before = path.read_bytes()
    page.goto("/topics/nk-russia-arms/edit")
    original = page.locator("#yaml").input_value()
    assert original.count("\n  none:\n") == 1
    vetoed = original.replace("\n  none:\n", "\n  none:\n" + VETO, 1)
    edit(page, vetoed)
    # The page opened with a preview of the file as saved (nothing lost): wait for this edit's.
    lost = page.locator("#preview").get_by_role("heading", name=re.compile(r"Lost \([1-9]"))
    lost.wait_for(timeout=15_000)
    shown = page.locator("#preview").inner_text()
    assert "Seoul, Washington say" in shown and "확장억제" in shown, shown
    assert page.locator("#save").is_enabled()
    assert path.read_bytes() == before, "the preview wrote the file"
    shoot(page, "console-editor.png")
    page.locator("#save").click()
    page.wait_for_load_state()
    wait_until(lambda: path.read_text(encoding="utf-8") == vetoed, timeout=10,
               what="the saved watch topic")
    path.write_bytes(before)


def test_axe_finds_no_serious_violation_on_the_main_pages(browser: Any,
                                                           pipeline: Pipeline) -> None:
    story = seoul_story_path(pipeline.url)
    # axe is injected as an inline script, which the console's own CSP rightly refuses.
    context = browser.new_context(viewport=VIEWPORT, base_url=pipeline.url, bypass_csp=True,
                                  http_credentials={"username": ANALYST, "password": PASSWORD})
    page = context.new_page()
    problems = []
    for path in ("/", story, "/topics/nk-russia-arms/edit"):
        page.goto(path)
        page.wait_for_load_state("networkidle")  # the editor's first preview included
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        problems += [f"{path}: {v['id']} ({v['impact']}): {v['help']}: "
                     + "; ".join(" ".join(n["target"]) + " " + n.get("failureSummary", "")
                                 for n in v["nodes"][:5])
                     for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not problems, "\n".join(problems)
    page.goto("/")
    shoot(page, "console-stories.png")
    page.emulate_media(color_scheme="dark")
    shoot(page, "console-stories-dark.png")
    context.close()


def shoot(page: Any, name: str) -> None:
    directory = os.environ.get("NEWSWATCH_SCREENSHOTS")
    if directory:
        time.sleep(0.3)  # let a partial update settle
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / name))
