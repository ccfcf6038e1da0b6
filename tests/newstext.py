"""Generated news text of our own, for benchmarks and crash tests.

In: a count and a seed. Out: articles (or paragraphs) whose sentences are drawn from a fixed set
of news-like sentences, some naming North Korea, Russia, the Security Council or the allies'
deterrence talks. With the defaults about one article in eleven matches a shipped watch topic;
``size=2000, plain_odds=0.976`` makes it one in six. The same arguments give the same text;
nothing here does I/O.

::

    batch = articles(3000, id_prefix="chaos")       # ~4 KB each, ids chaos-0 ... chaos-2999
    text = paragraph(random.Random(7))              # 3 to 6 sentences
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from monitor.article import Article

SENTENCES = (
    "Officials in Seoul said the talks would resume after the holiday.",
    "The ministry declined to comment on the report, citing security concerns.",
    "Prices of rice and fuel rose for the third month in a row, the statistics office said.",
    "Heavy rain flooded several roads in the capital on Tuesday morning.",
    "The national team won its qualifying match two goals to one.",
    "Analysts said the central bank was likely to hold rates steady this quarter.",
    "A spokesperson for the foreign ministry said the envoy had returned home.",
    "Lawmakers debated a bill on household debt late into the night.",
    "North Korea fired a ballistic missile into the sea off its east coast.",
    "Russia said its forces had taken another village in eastern Ukraine.",
    "South Korean intelligence said North Korea had shipped more artillery shells to Russia.",
    "The Security Council extended the mandate of the sanctions panel for another year.",
    "Washington and Seoul agreed to strengthen extended deterrence, including the deployment "
    "of strategic assets.",
    "The Nuclear Consultative Group will meet again in Washington next month.",
    "Kim Jong Un inspected a munitions factory, state media reported.",
    "Putin thanked Pyongyang for its support in a message marking the treaty anniversary.",
    "The United Nations said aid deliveries had been delayed by fighting near the border.",
    "The company reported higher profits on strong demand for memory chips.",
    "Tourists returned to the island after the typhoon passed.",
    "A court sentenced the former mayor to two years in prison for bribery.",
)
#: The first sentences name nothing a shipped watch topic looks for.
PLAIN = 8
#: Chance that a sentence is drawn from the plain ones only.
PLAIN_ODDS = 0.994


def paragraph(rng: random.Random, plain_odds: float = PLAIN_ODDS) -> str:
    """Return 3 to 6 sentences; each is plain with odds ``plain_odds``, else any sentence."""
    return " ".join(rng.choice(SENTENCES[:PLAIN]) if rng.random() < plain_odds
                    else rng.choice(SENTENCES) for _ in range(rng.randint(3, 6)))


def articles(count: int, *, seed: int = 20230915, size: int = 4000, id_prefix: str = "bench",
             feed_id: str = "bench", outlet: str = "Bench Wire",
             plain_odds: float = PLAIN_ODDS, fetched_at: datetime | None = None) -> list[Article]:
    """Return ``count`` English articles of about ``size`` characters, ids ``<prefix>-<n>``."""
    rng = random.Random(seed)
    fetched = fetched_at or datetime.now(UTC)
    out = []
    for n in range(count):
        paragraphs, length = [], 0
        while length < size:
            text = paragraph(rng, plain_odds)
            paragraphs.append(text)
            length += len(text) + 2
        out.append(Article(article_id=f"{id_prefix}-{n}", feed_id=feed_id, outlet=outlet,
                           title=f"Report {n} from the region", text="\n\n".join(paragraphs),
                           language="en", fetched_at=fetched))
    return out


# -- reports of events, for the story stage --------------------------------------------------
_ACTORS = ("The defence ministry", "The foreign ministry", "Coast guard officials",
           "The joint chiefs of staff", "The interior ministry", "Port authorities",
           "The election commission", "Customs officers", "The central bank",
           "Border police", "The energy regulator", "The health ministry")
_PLACES = ("Busan", "Incheon", "Gangneung", "Mokpo", "Sokcho", "Ulsan", "Daegu", "Gwangju",
           "Jeju", "Pohang", "Yeosu", "Gunsan", "Tongyeong", "Andong", "Wonju", "Chuncheon")
_DEEDS = ("seized {n} tonnes of undeclared cargo aboard a freighter in {place}",
          "reported that {n} fishing boats crossed the maritime border near {place}",
          "opened an inquiry after {n} containers went missing at the port of {place}",
          "evacuated {n} residents after a chemical leak at a plant in {place}",
          "detained {n} crew members of a tanker anchored off {place}",
          "said {n} drones were spotted over a power station near {place}",
          "suspended {n} flights at the airport of {place} after a radar fault",
          "found {n} kilograms of explosives in a warehouse in {place}")
_OUTLETS = ("Example Wire", "Harbour Daily", "Coastal Times", "Capital Herald", "Morning Post",
            "Evening Standard Korea", "River News", "Summit Observer")
_SAID = ("officials said on {day}", "according to a statement released on {day}",
         "the agency told reporters on {day}", "a spokesperson confirmed on {day}")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAMES = ("Kim Min-seo", "Park Ji-hoon", "Lee Soo-jin", "Choi Dong-hyun", "Jung Ha-eun",
          "Kang Tae-yang", "Yoon Seo-yeon", "Han Jae-won", "Oh Ye-jin", "Shin Hyun-woo")
_DETAILS = ("{n} officers were sent to {place} to secure the site around {street} Street.",
            "The operation began shortly after {hour} a.m. local time and lasted {n} minutes.",
            "{name}, who speaks for the agency, said an inquiry would report within {n} days.",
            "Residents near {street} Street were told to keep their windows closed.",
            "It was the {n}th incident of its kind recorded in the province since {year}.",
            "{name} told reporters that {n} people had been questioned by the evening.",
            "Shipping in the {street} channel was suspended until further notice.",
            "Local media showed {n} vehicles queuing at a checkpoint on the {street} road.")
_STREETS = ("Haeundae", "Jungang", "Sejong", "Namdaemun", "Yulgok", "Dongmun", "Chungmu",
            "Hwarang", "Gwanghwa", "Seomyeon", "Daehak", "Yeongdo")


def event_reports(events: int, per_event: int, *, seed: int = 915,
                  start: datetime | None = None, id_prefix: str = "event",
                  spacing_minutes: float = 7.0) -> list[tuple[int, Article]]:
    """Return ``per_event`` reports of each of ``events`` generated events, as (event, Article).

    Each event is an actor doing a deed with a number at a place, told with three details of
    its own (names, streets, numbers); its first report is the wire text, the others are other
    outlets' copies (every third: the wire text reprinted) or rewrites of it (the first
    sentence reworded, a headline of their own). Reports come in time order, events
    interleaved, ``spacing_minutes`` apart; ids are ``<prefix>-<event>-<report>``.
    """
    rng = random.Random(seed)
    began = start or datetime.now(UTC)
    stream: list[tuple[float, int, int, Article]] = []
    for event in range(events):
        actor, place = rng.choice(_ACTORS), rng.choice(_PLACES)
        deed = rng.choice(_DEEDS).format(n=rng.randint(2, 950), place=place)
        day = rng.choice(_DAYS)
        details = " ".join(
            template.format(n=rng.randint(2, 400), place=place, street=rng.choice(_STREETS),
                            hour=rng.randint(1, 11), name=rng.choice(_NAMES),
                            year=rng.randint(2009, 2022))
            for template in rng.sample(_DETAILS, 3))
        wire = f"{actor} {deed}, {rng.choice(_SAID).format(day=day)}. {details}"
        title = f"{actor.removeprefix('The ')} {deed.split(' after ')[0]}"
        at = event * spacing_minutes
        for report in range(per_event):
            if report == 0 or report % 3 == 0:
                text, headline = wire, title
            else:
                said = rng.choice(_SAID).format(day=day)
                text = f"{said.capitalize()}, {actor.lower()} {deed}. {details}"
                headline = f"{place}: {deed.split(' in ')[0].split(' at ')[0]}"
            at += rng.uniform(1, spacing_minutes)
            published = began + timedelta(minutes=at)
            outlet = _OUTLETS[(event + report) % len(_OUTLETS)]
            stream.append((at, event, report, Article(
                article_id=f"{id_prefix}-{event}-{report}", feed_id=outlet.lower(),
                outlet=outlet, title=headline, text=text, language="en",
                published_at=published, fetched_at=published)))
    stream.sort(key=lambda item: item[0])
    return [(event, article) for _, event, _, article in stream]
