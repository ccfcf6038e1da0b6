from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from monitor import cli
from monitor.alerting.notice import (
    Console,
    Email,
    Secret,
    SlackBot,
    SlackWebhook,
    Webhook,
    default_channel_id,
)
from monitor.alerting.subscribers import (
    Corroboration,
    Digest,
    QuietHours,
    RateLimit,
    Subscribers,
    SubscribersReloader,
    load_subscribers,
    next_digest,
)
from monitor.yamlfile import ConfigErrors

ROOT = Path(__file__).parents[2]
TOPICS = {"nk-russia-arms", "unsc-sanctions", "nk-missile-launches"}
WEBHOOK = "https://hooks.slack.com/services/T0/B0/hushhushwebhook"
TOKEN = "xoxb-hushhush-token"
ENV = {"SLACK_WEBHOOK_KOREA": WEBHOOK, "SLACK_BOT_TOKEN": TOKEN,
       "HOOK_URL": "https://hooks.example.org/hushhush-path", "HOOK_SECRET": "hushhush-key"}

ISSUE_EXAMPLE = """\
subscribers:
  - id: korea-desk
    watch: [nk-russia-arms, unsc-sanctions]
    channels:
      - slack: {webhook_url: "${SLACK_WEBHOOK_KOREA}"}
      - email: {to: ["desk@example.org"]}
"""


def load(text: str, environ: dict[str, str] | None = None, *,
         known_topics: set[str] | None = None, allow_unset: bool = False) -> Subscribers:
    return load_subscribers("subs.yaml", text=dedent(text), known_topics=known_topics,
                            environ=ENV if environ is None else environ, allow_unset=allow_unset)


def errors(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load(text, environ, known_topics=TOPICS)
    return [str(e) for e in caught.value.errors]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- loading ----------------------------------------------------------------------------------


def test_the_issue_example_loads_as_written() -> None:
    subscribers = load(ISSUE_EXAMPLE, known_topics=TOPICS)

    [desk] = subscribers.subscribers
    assert desk.id == "korea-desk"
    assert desk.watch == {"nk-russia-arms", "unsc-sanctions"}
    slack, email = desk.channels
    assert isinstance(slack, SlackWebhook)
    assert slack.webhook_url.reveal() == WEBHOOK
    assert slack.webhook_url.name == "SLACK_WEBHOOK_KOREA"
    assert slack.id == default_channel_id("slack", "${SLACK_WEBHOOK_KOREA}")
    assert email == Email(("desk@example.org",), default_channel_id("email", "desk@example.org"))
    assert (desk.min_severity, desk.digest, desk.rate_limit, desk.quiet_hours,
            desk.corroboration) == ("low", None, None, None, None)
    assert (desk.max_age, desk.update_interval) == (timedelta(hours=48), timedelta(minutes=30))
    assert subscribers.get("korea-desk") is desk
    assert subscribers.get("nobody") is None
    assert subscribers.watching("unsc-sanctions") == (desk,)
    assert subscribers.watching("nk-missile-launches") == ()
    assert desk.channel(email.id) is email


def test_every_setting_and_channel_kind_is_read() -> None:
    [s] = load("""\
        subscribers:
          - id: duty
            watch: [nk-missile-launches]
            channels:
              - slack: {token: "${SLACK_BOT_TOKEN}", channel: "#duty", id: duty-bot}
              - webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
              - webhook: {url: "https://hooks.example.org/plain"}
              - console: true
            min_severity: high
            delivery: {digest: {at: ["17:30", "08:00"], timezone: Europe/Berlin}}
            rate_limit: {alerts: 10, per: 1h30m}
            quiet_hours: {from: "22:00", to: "07:00", timezone: Asia/Seoul}
            max_age: 2d
            update_interval: 90s
            corroboration: {sources: 2, trusted_outlets: [Reuters, "Yonhap News Agency"]}
        """).subscribers

    bot, signed, plain, console = s.channels
    assert bot == SlackBot(Secret(TOKEN), "#duty", "duty-bot")
    assert isinstance(signed, Webhook) and signed.secret is not None
    assert (signed.url.reveal(), signed.secret.reveal()) == (ENV["HOOK_URL"], ENV["HOOK_SECRET"])
    assert signed.id == default_channel_id("webhook", "${HOOK_URL}", "${HOOK_SECRET}")
    assert isinstance(plain, Webhook) and plain.secret is None
    assert plain.url.reveal() == "https://hooks.example.org/plain"
    assert console == Console(default_channel_id("console"))
    assert s.min_severity == "high"
    assert s.digest == Digest(at=(time(8), time(17, 30)), timezone="Europe/Berlin")
    assert s.rate_limit == RateLimit(10, timedelta(hours=1, minutes=30))
    assert s.quiet_hours == QuietHours(time(22), time(7), "Asia/Seoul")
    assert (s.max_age, s.update_interval) == (timedelta(days=2), timedelta(seconds=90))
    assert s.corroboration == Corroboration(2, frozenset({"reuters", "yonhap news agency"}))


def test_defaults_apply_and_a_subscriber_overrides_or_removes_them() -> None:
    first, second, third = load("""\
        defaults:
          min_severity: medium
          delivery: {digest: {every: 4h}}
          quiet_hours: {from: "22:00", to: "07:00"}
          max_age: 12h
        subscribers:
          - id: first
            watch: [nk-russia-arms]
            channels: [console: {}]
          - id: second
            watch: [nk-russia-arms]
            channels: [console: {}]
            min_severity: critical
            delivery: immediate
            quiet_hours: null
          - id: third
            watch: [nk-russia-arms]
            channels: [console: {}]
            max_age: 30m
        """).subscribers

    assert first.min_severity == "medium"
    assert first.digest == Digest(every=timedelta(hours=4))
    assert first.quiet_hours == QuietHours(time(22), time(7), "UTC")
    assert first.max_age == timedelta(hours=12)
    assert (second.min_severity, second.digest, second.quiet_hours) == ("critical", None, None)
    assert second.max_age == timedelta(hours=12)
    assert third.max_age == timedelta(minutes=30)
    assert third.min_severity == "medium"


def test_a_default_channel_id_comes_from_the_file_never_from_the_secret() -> None:
    [one] = load(ISSUE_EXAMPLE).subscribers
    [other] = load(ISSUE_EXAMPLE, {"SLACK_WEBHOOK_KOREA": "https://hooks.slack.com/rotated"}
                   ).subscribers

    assert one.channels[0].id == other.channels[0].id
    assert one.channels[0] != other.channels[0]
    assert WEBHOOK not in one.channels[0].id


HEAD = """\
subscribers:
  - id: desk
    watch: [nk-russia-arms]
    channels:
      - console: {}
"""


@pytest.mark.parametrize(("tail", "expected"), [
    ("    quite_hours: {}\n",
     "subs.yaml:6: subscribers[0].quite_hours: unknown field 'quite_hours'; expected one of id, "
     "watch, channels, min_severity, delivery, rate_limit, quiet_hours, max_age, "
     "update_interval, corroboration (did you mean 'quiet_hours'?)"),
    ("    min_severity: urgent\n",
     "subs.yaml:6: subscribers[0].min_severity: expected one of low, medium, high, critical, "
     "got 'urgent'"),
    ("    max_age: 2 weeks\n",
     "subs.yaml:6: subscribers[0].max_age: expected a duration such as 90s, 30m, 4h, 2d or "
     "1h30m, got '2 weeks'"),
    ("    update_interval: 0m\n",
     "subs.yaml:6: subscribers[0].update_interval: must be longer than 0: a duration such as "
     "90s, 30m, 4h, 2d or 1h30m"),
    ("    delivery: daily\n",
     "subs.yaml:6: subscribers[0].delivery: expected immediate, {digest: {every: 4h}} or "
     "{digest: {at: [\"08:00\"]}}"),
    ("    delivery:\n      digest: {every: 4h, at: [\"08:00\"]}\n",
     "subs.yaml:7: subscribers[0].delivery.digest: give exactly one of every: (an interval) or "
     "at: (clock times)"),
    ("    delivery:\n      digest:\n        at: [\"08:00\", \"25:00\"]\n",
     "subs.yaml:8: subscribers[0].delivery.digest.at[1]: expected a time HH:MM (24-hour clock), "
     "got '25:00'"),
    ("    delivery: {digest: {at: [\"08:00\"], timezone: Europe/Berln}}\n",
     "subs.yaml:6: subscribers[0].delivery.digest.timezone: unknown time zone 'Europe/Berln' "
     "(did you mean 'Europe/Berlin'?)"),
    ("    quiet_hours:\n      from: 22:00\n      to: \"07:00\"\n",
     "subs.yaml:7: subscribers[0].quiet_hours.from: write the time in quotes, such as \"22:00\" "
     "(unquoted, YAML reads it as a number)"),
    ("    quiet_hours:\n      from: \"07:00\"\n      to: \"07:00\"\n",
     "subs.yaml:8: subscribers[0].quiet_hours.to: equals from: quiet hours need different "
     "start and end"),
    ("    rate_limit: {alerts: 10}\n",
     "subs.yaml:6: subscribers[0].rate_limit: missing 'per'"),
    ("    corroboration:\n      sources: 0\n",
     "subs.yaml:7: subscribers[0].corroboration.sources: expected a whole number of at least 1, "
     "got 0"),
    ("      - email: {to: [desk.example.org]}\n",
     "subs.yaml:6: subscribers[0].channels[1].email.to[0]: expected an email address "
     "local@domain, got 'desk.example.org'"),
    ("      - email: {to: []}\n",
     "subs.yaml:6: subscribers[0].channels[1].email.to: expected a non-empty list of addresses, "
     "such as [\"desk@example.org\"]"),
    ("      - webhook: {url: \"ftp://files.example.org/in\"}\n",
     "subs.yaml:6: subscribers[0].channels[1].webhook.url: expected an http:// or https:// URL"),
    ("      - slack: {token: \"${SLACK_BOT_TOKEN}\", channel: duty}\n",
     "subs.yaml:6: subscribers[0].channels[1].slack.channel: expected a Slack channel id such "
     "as C0123ABC or a #name, got 'duty'"),
    ("      - pager: {number: 5}\n",
     "subs.yaml:6: subscribers[0].channels[1].pager: unknown field 'pager'; expected one of "
     "slack, email, webhook, console"),
    ("      - console: true\n",
     "subs.yaml:6: subscribers[0].channels[1]: duplicate channel id "
     f"'{default_channel_id('console')}' (also channels[0]): give one of them its own id:"),
    ("      - console: {id: Main Console}\n",
     "subs.yaml:6: subscribers[0].channels[1].console.id: expected a short name of lower-case "
     "letters, digits, '-' and '_', got 'Main Console'"),
    ("  - id: desk\n    watch: [unsc-sanctions]\n    channels: [console: {}]\n",
     "subs.yaml:6: subscribers[1].id: duplicate subscriber id 'desk' (also subscribers[0])"),
    ("  - id: Desk-2\n    watch: [unsc-sanctions]\n    channels: [console: {}]\n",
     "subs.yaml:6: subscribers[1].id: missing or bad id: lower-case letters, digits, '-' and "
     "'_' (got 'Desk-2')"),
    ("  - id: other\n    watch: [unsc-sanction]\n    channels: [console: {}]\n",
     "subs.yaml:7: subscribers[1].watch[0]: unknown watch topic 'unsc-sanction' (did you mean "
     "'unsc-sanctions'?)"),
    ("  - id: other\n    watch: []\n    channels: [console: {}]\n",
     "subs.yaml:7: subscribers[1].watch: expected a non-empty list of watch topic ids, such as "
     "[nk-russia-arms]"),
    ("  - id: other\n    watch: [unsc-sanctions]\n",
     "subs.yaml:6: subscribers[1]: missing 'channels'"),
])
def test_each_mistake_names_file_line_and_field(tail: str, expected: str) -> None:
    assert errors(HEAD + tail) == [expected]


def test_defaults_are_checked_like_a_subscriber_s_settings() -> None:
    assert errors("defaults:\n  max_age: forever\n" + HEAD) == [
        "subs.yaml:2: defaults.max_age: expected a duration such as 90s, 30m, 4h, 2d or 1h30m, "
        "got 'forever'"]


def test_every_mistake_of_a_file_is_reported_at_once_in_line_order() -> None:
    found = errors("""\
        subscribers:
          - id: desk
            watch: [nk-russia-arms]
            channels:
              - email: {to: [nobody]}
            min_severity: urgent
          - watch: [nk-russia-arms]
            channels: [console: {}]
            max_age: soon
        """)

    assert [e.split(": ")[0] for e in found] == ["subs.yaml:5", "subs.yaml:6", "subs.yaml:7",
                                                 "subs.yaml:9"]
    assert "subs.yaml:7: subscribers[1]: missing or bad id" in found[2]


def test_a_syntax_error_is_one_config_error() -> None:
    [error] = errors("subscribers:\n  - id: desk\n   watch: [nk-russia-arms]\n")

    assert error.startswith("subs.yaml:3: invalid YAML: ")


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "field"), [
    ('slack: {webhook_url: "https://hooks.slack.com/services/T0/B0/hushhush"}',
     "slack.webhook_url"),
    ('slack: {token: "xoxb-hushhush", channel: C0123ABC}', "slack.token"),
    ('webhook: {url: "https://hooks.example.org/in", secret: "hushhush"}', "webhook.secret"),
    ('slack: {webhook_url: "https://hooks.slack.com/${HUSHHUSH}"}', "slack.webhook_url"),
])
def test_a_secret_written_in_the_file_is_refused_and_not_repeated(channel: str,
                                                                  field: str) -> None:
    found = errors(HEAD + f"      - {channel}\n")

    assert found == [f"subs.yaml:6: subscribers[0].channels[1].{field}: secrets come only "
                     "from the environment: write ${VAR}"]
    assert "hushhush" not in "\n".join(found)


def test_an_unset_or_empty_variable_is_named() -> None:
    assert errors(ISSUE_EXAMPLE, {}) == [
        "subs.yaml:5: subscribers[0].channels[0].slack.webhook_url: environment variable "
        "SLACK_WEBHOOK_KOREA is not set"]
    assert errors(ISSUE_EXAMPLE, {"SLACK_WEBHOOK_KOREA": ""}) == [
        "subs.yaml:5: subscribers[0].channels[0].slack.webhook_url: environment variable "
        "SLACK_WEBHOOK_KOREA is not set (it is empty)"]


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_KOREA", WEBHOOK)
    [desk] = load_subscribers("subs.yaml", text=ISSUE_EXAMPLE).subscribers

    assert isinstance(desk.channels[0], SlackWebhook)
    assert desk.channels[0].webhook_url.reveal() == WEBHOOK


def test_a_secret_never_shows_in_errors_or_reprs() -> None:
    text = HEAD + """\
      - slack: {webhook_url: "${SLACK_WEBHOOK_KOREA}"}
      - slack: {token: "${SLACK_BOT_TOKEN}", channel: C0123ABC}
      - webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
"""
    loaded = load(text)
    environ = {**ENV, "HOOK_URL": "ftp://hushhush.example.org/"}
    found = errors(text + "    max_age: never\n", environ)

    assert len(found) == 2
    assert found[0] == ("subs.yaml:8: subscribers[0].channels[3].webhook.url: environment "
                        "variable HOOK_URL: expected an http:// or https:// URL")
    for shown in (repr(loaded), str(loaded), "\n".join(found)):
        assert "hushhush" not in shown
        assert "SLACK_WEBHOOK_KOREA" in shown or "HOOK_URL" in shown


def test_without_the_environment_placeholders_stay() -> None:
    [desk] = load(ISSUE_EXAMPLE, {}, allow_unset=True).subscribers

    assert isinstance(desk.channels[0], SlackWebhook)
    assert desk.channels[0].webhook_url.reveal() == "${SLACK_WEBHOOK_KOREA}"
    assert desk.channels[0].webhook_url.name == "SLACK_WEBHOOK_KOREA"


# --- schedules --------------------------------------------------------------------------------


def test_every_digests_fall_on_multiples_of_the_interval_since_the_epoch() -> None:
    four_hours = Digest(every=timedelta(hours=4))

    assert next_digest(four_hours, utc(2025, 6, 1, 9, 17)) == utc(2025, 6, 1, 12)
    assert next_digest(four_hours, utc(2025, 6, 1, 11, 59)) == utc(2025, 6, 1, 12)
    assert next_digest(four_hours, utc(2025, 6, 1, 12)) == utc(2025, 6, 1, 16)  # strictly after
    assert next_digest(four_hours, utc(2025, 6, 1, 22)) == utc(2025, 6, 2, 0)
    ninety = Digest(every=timedelta(minutes=90))
    assert next_digest(ninety, utc(1970, 1, 1, 1, 0)) == utc(1970, 1, 1, 1, 30)


def test_at_digests_follow_the_local_clock() -> None:
    berlin = Digest(at=(time(8), time(17, 30)), timezone="Europe/Berlin")

    assert next_digest(berlin, utc(2025, 6, 1, 5)) == utc(2025, 6, 1, 6)          # 08:00 CEST
    assert next_digest(berlin, utc(2025, 6, 1, 6)) == utc(2025, 6, 1, 15, 30)     # 17:30 CEST
    assert next_digest(berlin, utc(2025, 6, 1, 15, 30)) == utc(2025, 6, 2, 6)
    assert next_digest(berlin, utc(2025, 1, 15, 12)) == utc(2025, 1, 15, 16, 30)  # 17:30 CET
    seoul = Digest(at=(time(8),), timezone="Asia/Seoul")
    assert next_digest(seoul, utc(2025, 6, 1, 0)) == utc(2025, 6, 1, 23)          # 08:00 KST


def test_at_digests_keep_local_time_across_a_dst_change() -> None:
    berlin = Digest(at=(time(8),), timezone="Europe/Berlin")

    # Spring forward on 2025-03-30: 08:00 CET is 07:00 UTC, 08:00 CEST is 06:00 UTC.
    assert next_digest(berlin, utc(2025, 3, 29, 7)) == utc(2025, 3, 30, 6)
    # Fall back on 2025-10-26.
    assert next_digest(berlin, utc(2025, 10, 25, 6)) == utc(2025, 10, 26, 7)
    # A time the clock skips runs after the jump (02:30 → 03:30 CEST), once.
    skipped = Digest(at=(time(2, 30),), timezone="Europe/Berlin")
    assert next_digest(skipped, utc(2025, 3, 29, 12)) == utc(2025, 3, 30, 1, 30)
    # A time the clock shows twice runs the first time only.
    repeated = Digest(at=(time(2, 30),), timezone="Europe/Berlin")
    assert next_digest(repeated, utc(2025, 10, 25, 12)) == utc(2025, 10, 26, 0, 30)
    assert next_digest(repeated, utc(2025, 10, 26, 0, 30)) == utc(2025, 10, 27, 1, 30)


def test_quiet_hours_wrap_over_midnight() -> None:
    quiet = QuietHours(time(22), time(7), "Europe/Berlin")

    assert quiet.contains(utc(2025, 6, 1, 20))             # 22:00 CEST
    assert quiet.contains(utc(2025, 6, 1, 23))             # 01:00
    assert quiet.contains(utc(2025, 6, 2, 4, 59))          # 06:59
    assert not quiet.contains(utc(2025, 6, 2, 5))          # 07:00
    assert not quiet.contains(utc(2025, 6, 1, 19, 59))     # 21:59
    assert quiet.ends_after(utc(2025, 6, 1, 20)) == utc(2025, 6, 2, 5)
    assert quiet.ends_after(utc(2025, 6, 2, 3)) == utc(2025, 6, 2, 5)
    assert quiet.ends_after(utc(2025, 6, 1, 12)) == utc(2025, 6, 1, 12)  # not quiet: now
    # The night the clocks go forward: in at 23:00 CET, out at 07:00 CEST.
    assert quiet.ends_after(utc(2025, 3, 29, 22)) == utc(2025, 3, 30, 5)


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(time(12), time(13, 30), "UTC")

    assert lunch.contains(utc(2025, 6, 1, 12))
    assert not lunch.contains(utc(2025, 6, 1, 13, 30))
    assert not lunch.contains(utc(2025, 6, 1, 23))
    assert lunch.ends_after(utc(2025, 6, 1, 12, 10)) == utc(2025, 6, 1, 13, 30)
    with pytest.raises(ValueError, match="aware"):
        lunch.contains(datetime(2025, 6, 1, 12))


def test_corroboration_by_sources_or_a_trusted_outlet() -> None:
    rule = Corroboration(2, frozenset({"Reuters", "Yonhap News Agency"}))

    assert rule.trusted_outlets == {"reuters", "yonhap news agency"}
    assert rule.satisfied(2, ["Some Blog"])
    assert rule.satisfied(1, ["Some Blog", "YONHAP news agency"])
    assert not rule.satisfied(1, ["Some Blog", "Reuters Digest"])
    assert not Corroboration(3).satisfied(2, ["Reuters"])


# --- reloading --------------------------------------------------------------------------------


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(dedent(text), encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))


async def test_the_reloader_keeps_the_old_subscribers_on_a_bad_edit_and_takes_a_good_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "subscribers.yaml"
    write(path, ISSUE_EXAMPLE, 1_000_000_000)
    failures: list[None] = []
    reloader = SubscribersReloader(path, environ=ENV, known_topics=TOPICS,
                                   on_error=lambda: failures.append(None))
    before = reloader.subscribers
    assert await reloader.reload_if_changed() is False

    write(path, ISSUE_EXAMPLE.replace("unsc-sanctions", "unsc-sanction") + "    max_age: 0h\n",
          2_000_000_000)
    with caplog.at_level(logging.INFO, "monitor.alerting.subscribers"):
        assert await reloader.reload_if_changed() is False
    assert reloader.subscribers is before
    assert len(failures) == 1
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2
    assert "subscribers.yaml:3: subscribers[0].watch[1]: unknown watch topic" in logged[0]
    assert "hushhush" not in "\n".join(logged)

    caplog.clear()
    write(path, ISSUE_EXAMPLE + dedent(HEAD).replace("subscribers:\n", "").replace(
        "id: desk", "id: console-desk"), 3_000_000_000)
    with caplog.at_level(logging.INFO, "monitor.alerting.subscribers"):
        assert await reloader.reload_if_changed() is True
    assert [s.id for s in reloader.subscribers.subscribers] == ["korea-desk", "console-desk"]
    assert [r.getMessage() for r in caplog.records] == [
        f"subscribers reloaded: 2 subscribers from {path}"]
    assert len(failures) == 1


def test_the_reloader_refuses_a_bad_file_at_start(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.yaml"
    write(path, ISSUE_EXAMPLE, 1_000_000_000)

    with pytest.raises(ConfigErrors, match="SLACK_WEBHOOK_KOREA is not set"):
        SubscribersReloader(path, environ={})


# --- the command ------------------------------------------------------------------------------


SECRETS = {"SLACK_WEBHOOK_KOREA": WEBHOOK, "SLACK_BOT_TOKEN": TOKEN,
           "DUTY_WEBHOOK_URL": "https://duty.example.org/in", "DUTY_WEBHOOK_SECRET": "key"}


def test_check_prints_each_error_and_exits_1(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "subscribers.yaml"
    write(path, HEAD.replace("nk-russia-arms", "nk-russia-arm") + "    max_age: 0h\n", 1)

    assert cli.main(["subscribers", "check", str(path), "--topics", str(ROOT / "topics")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:3: subscribers[0].watch[0]: unknown watch topic 'nk-russia-arm' (did you mean "
        "'nk-russia-arms'?)",
        f"{path}:6: subscribers[0].max_age: must be longer than 0: a duration such as 90s, 30m, "
        "4h, 2d or 1h30m"]


def test_check_needs_the_watch_topics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["subscribers", "check", str(ROOT / "deploy" / "subscribers.console.yaml"),
                     "--topics", str(tmp_path / "missing")]) == 2
    assert "missing: not a directory" in capsys.readouterr().err


def test_the_console_file_passes_check(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)

    assert cli.main(["subscribers", "check", "deploy/subscribers.console.yaml"]) == 0
    assert capsys.readouterr().out == (
        "deploy/subscribers.console.yaml: 1 subscriber, 1 channel, watching 5 watch topics\n")


def test_the_example_file_passes_check_with_its_secrets_or_without_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)
    expected = "deploy/subscribers.yaml: 4 subscribers, 6 channels, watching 5 watch topics\n"

    assert cli.main(["subscribers", "check", "deploy/subscribers.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.count("is not set") == len(SECRETS)
    assert cli.main(["subscribers", "check", "deploy/subscribers.yaml", "--no-env"]) == 0
    assert capsys.readouterr().out == expected
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["subscribers", "check", "deploy/subscribers.yaml"]) == 0
    assert capsys.readouterr().out == expected
