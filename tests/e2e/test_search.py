"""Finding the moment, end to end: two espeak-ng lectures through a video worker and a caption
worker (the real tiny.en model), searched through `make serve`'s API and in Chromium.

The word only one lecture says (OXYGEN) opens a sentence about 15 s in; its cue must
start within 3 s of when espeak-ng says it (measured by speaking the text before it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.harness import wait_until
from bench.spoken_lecture import spoken_lecture
from tests.e2e.harness import worker_args
from tests.e2e.test_api_pipeline import Client, create_key, serve

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ALGEBRA = (
    "Welcome to the first lecture on linear algebra. Today we will talk about vectors and "
    "matrices. A vector is a list of numbers. We can add two vectors and we can multiply a "
    "vector by a number."
)
BEFORE_WORD = (
    "Good morning everyone. In this lesson we look at how plants make their food. Leaves take "
    "in light from the sun, water from the soil and carbon dioxide from the air. This "
    "happens every single day."
)
WORD = "oxygen"
BIOLOGY = f"{BEFORE_WORD} Oxygen is what the leaves give back to the air, with sugar for the plant."
# Said in BIOLOGY, and a word of ALGEBRA's title: the title match must come first.
TITLE_WORD = "sugar"
NEVER_SAID = "quaternion"
MAX_OFFSET_SECONDS = 3.0


def seconds_of(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout)


@pytest.fixture(scope="module")
def lectures(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("search")
    before = spoken_lecture(folder / "before.mp4", BEFORE_WORD)
    return {
        "algebra": spoken_lecture(folder / "algebra.mp4", ALGEBRA),
        "biology": spoken_lecture(folder / "biology.mp4", BIOLOGY),
        # When the word is said: right after the sentence before it.
        "word_at": seconds_of(before),
    }


def upload(client: Client, path: Path, title: str) -> int:
    status, created = client.json("POST", "/api/v1/videos", {"title": title})
    assert status == 201, created
    upload = created["upload"]
    status, _h, _raw = client.call(
        upload["method"], upload["url"], data=path.read_bytes(), headers=upload["headers"]
    )
    assert status == 200
    status, _h, _raw = client.call("POST", upload["complete_url"])
    assert status == 202
    return created["id"]


def captions_ready(client: Client, video_id: int) -> bool:
    status, body = client.json("GET", f"/api/v1/videos/{video_id}/captions")
    assert status == 200, body
    assert not any(t["status"] in ("FAILED", "SKIPPED") for t in body["items"]), body
    return any(t["kind"] == "auto" and t["status"] == "READY" for t in body["items"])


def stack(spawn, slug: str) -> tuple[Client, str]:
    _web, base = serve(spawn)
    spawn("worker", worker_args(None))
    spawn("captions", worker_args(None, "--jobs", "captions"))
    return Client(base, create_key(spawn, slug)), base


def transcript(client: Client, video_id: int) -> str:
    """What the caption worker heard (for a failure's message)."""
    _status, _h, raw = client.call("GET", f"/api/v1/videos/{video_id}/transcript?format=txt")
    return raw.decode(errors="replace")


def search(client: Client, q: str) -> list[dict]:
    status, body = client.json("GET", f"/api/v1/videos?q={q}")
    assert status == 200, body
    return body["items"]


def test_a_spoken_word_finds_its_lecture_and_second(spawn, lectures):
    client, _base = stack(spawn, "academy-search")
    algebra = upload(client, lectures["algebra"], "Sugar-free linear algebra")
    biology = upload(client, lectures["biology"], "Plants, week 2")
    for video_id in (algebra, biology):
        wait_until(lambda v=video_id: captions_ready(client, v), 300, what="automatic captions")

    items = search(client, WORD)
    assert [v["id"] for v in items] == [biology], (items, transcript(client, biology))
    found = items[0]
    starts = [h["start"] for h in found["hits"]]
    assert any(abs(s - lectures["word_at"]) <= MAX_OFFSET_SECONDS for s in starts), (
        starts,
        lectures["word_at"],
        found["hits"],
    )
    assert search(client, NEVER_SAID) == []
    titled = search(client, TITLE_WORD)
    assert [v["id"] for v in titled] == [algebra, biology], titled
    assert titled[0]["hits"][0]["start"] is None


def test_browser_search_opens_the_hit_and_the_transcript_follows(spawn, lectures):
    from tests.e2e.browser import PHONE, SCREENSHOTS, chromium, sign_in, wait_js, watch_console

    client, base = stack(spawn, "academy-search-web")
    biology = upload(client, lectures["biology"], "Plants, week 2")
    wait_until(lambda: captions_ready(client, biology), 300, what="automatic captions")
    [found] = search(client, WORD)
    hit_start = found["hits"][0]["start"]

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = watch_console(page)
        sign_in(page, base, client.key)
        page.get_by_label("Search").fill(WORD)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(f"{base}/?q={WORD}*")
        link = page.locator("a.hit").first
        assert WORD in link.inner_text().lower()
        page.screenshot(path=str(SCREENSHOTS / "search-results.png"), full_page=True)
        link.click()
        page.wait_for_url(f"{base}/videos/{biology}?t=*")

        # The player starts at the hit: within 2 s of its time, and plays from there.
        position = wait_js(
            page,
            """() => { const v = document.getElementById('player');
                       return v.readyState >= 2 && !v.paused ? v.currentTime : null; }""",
            timeout=60,
        )
        assert abs(position - int(hit_start)) <= 2.0, (position, hit_start)
        # The transcript marks the cue being played.
        current = wait_js(
            page,
            """() => {
                const li = document.querySelector('#transcript-list li[aria-current="true"]');
                return li ? li.innerText : null;
            }""",
        )
        assert WORD in current.lower(), current
        page.screenshot(path=str(SCREENSHOTS / "transcript-playing.png"))

        # A click on the first line seeks there.
        page.locator("#transcript-list li button").first.click()
        wait_js(page, "() => document.getElementById('player').currentTime < 5")
        wait_js(
            page,
            """() => document.querySelector('#transcript-list li')
                       .getAttribute('aria-current') === 'true'""",
        )
        # The filter marks matching lines.
        page.get_by_label("Find in the transcript").fill("sugar")
        assert page.locator("#transcript-list mark").count() >= 1
        assert "1 of" in page.locator("#transcript-status").inner_text()

        page.set_viewport_size(PHONE)
        player_box = page.locator("#player").bounding_box()
        panel_box = page.locator("#transcript").bounding_box()
        assert panel_box["y"] >= player_box["y"] + player_box["height"], (player_box, panel_box)
        page.screenshot(path=str(SCREENSHOTS / "transcript-phone.png"))
        assert not problems, problems
