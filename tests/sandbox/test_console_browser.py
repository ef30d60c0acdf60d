"""The sandbox console in a real browser (Debian's Chromium, driven by Playwright): the two
things a practice trying carebot does first. Saves a screenshot to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from bot.sandbox.runtime import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Headless as root on a closed network: no sandbox, no GPU, no background calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def opened_page(width: int, height: int) -> AsyncIterator[Page]:
    """A page of headless Chromium this wide and high (closed afterwards)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()


async def send(page: Page, pane: str, text: str) -> None:
    composer = page.locator(f"#{pane}-composer")
    await composer.locator("input").fill(text)
    await composer.get_by_role("button").click()


def test_chromium_is_installed() -> None:
    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install chromium (.ci/run)"


async def test_a_parent_confirms_and_asks_a_question_and_staff_see_and_answer(
    sandbox: Sandbox,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)  # noqa: ASYNC240 - once, before the browser starts
    async with opened_page(1400, 1000) as page:
        await page.goto(sandbox.url + "/")
        await expect(page.locator("header")).to_contain_text("no real platform is called")
        phone, slack = page.locator("#phone"), page.locator("#slack")

        # 1. Megan got Ethan's reminder by text; she replies 1; Dana sees it in Slack.
        await page.select_option("#family", "g-megan")
        await expect(phone).to_contain_text("Ethan has an appointment Mon, Nov 23 at 10:00 AM")
        await send(page, "phone", "1")
        await expect(phone).to_contain_text("Thank you! Ethan's appointment on")
        await page.select_option("#staff", "U0DEMO01")  # Dana Rivera, Ethan's clinician
        await expect(slack.locator("#direct")).to_contain_text(
            "Ethan Thompson confirmed Mon Nov 23, 10:00 AM (by Megan Thompson)"
        )

        # 2. Priya links Telegram with an invite and asks something only a person can answer.
        await page.select_option("#family", "g-priya")
        await page.locator("#phone-pane").get_by_label("Telegram").check()
        await phone.get_by_role("button", name="Link with an invite").click()
        await expect(phone).to_contain_text("Welcome to Bright Steps Therapy!")
        await send(page, "phone", "2016-08-21")  # Arjun's date of birth
        await expect(phone).to_contain_text("You're all set")
        await send(page, "phone", "Could Arjun move to Thursdays?")

        # Tamara, the coordinator, claims it and answers in the thread.
        await page.select_option("#staff", "U0DEMO05")
        thread = slack.locator(".thread", has_text="Could Arjun move to Thursdays?")
        await thread.get_by_role("button", name="Claim").click()
        await expect(phone).to_contain_text("Tamara")  # the family hears who has it
        reply = thread.locator(".reply-form")
        await reply.locator("input").fill("Yes, Thursdays at 3:30 work from next week.")
        await reply.get_by_role("button", name="Reply").click()
        await expect(phone).to_contain_text("Yes, Thursdays at 3:30 work from next week.")
        await expect(thread).to_contain_text("Tamara Brooks")

        await page.screenshot(path=str(ARTIFACTS / "sandbox-console.png"), full_page=True)


async def test_the_first_view_explains_itself_and_an_emergency_looks_urgent(
    sandbox: Sandbox,
) -> None:
    """What a newcomer sees before doing anything (what is happening at the practice, things
    to try, the activity pane with Megan's reminder delivered), then a family's emergency as
    the coordinator sees it: a header, the on-call mention, first on her Home tab."""
    ARTIFACTS.mkdir(exist_ok=True)  # noqa: ASYNC240 - once, before the browser starts
    async with opened_page(1400, 1000) as page:
        await page.goto(sandbox.url + "/")
        await expect(page.locator("#intro")).to_contain_text(
            "It is 09:00 at the practice: reminders due by now have gone out."
        )
        await expect(page.locator("#intro")).to_contain_text("Things to try")
        activity = page.locator("#activity")
        await expect(activity.locator("li.delivered", has_text="sms to Megan")).to_have_count(1)
        await page.screenshot(path=str(ARTIFACTS / "sandbox-first-view.png"), full_page=True)

        phone, slack = page.locator("#phone"), page.locator("#slack")
        await page.select_option("#family", "g-grace")
        await page.select_option("#staff", "U0DEMO05")  # Tamara, the coordinator
        await send(page, "phone", "EMERGENCY Noah fell and is not breathing well")
        await expect(phone).to_contain_text("911")
        thread = slack.locator(".thread", has_text="Noah fell")
        await expect(thread).to_contain_text("Possible emergency")
        await expect(thread).to_contain_text("@here")  # no one on call: everyone present
        await slack.get_by_role("button", name="Open Home").click()
        home = slack.locator("section.home")
        await expect(home).to_contain_text("Waiting for a person (1)")
        await expect(home).to_contain_text("Possible emergency Escalation #1: emergency")
        await page.screenshot(path=str(ARTIFACTS / "sandbox-emergency.png"), full_page=True)


async def test_a_phone_width_window_stacks_the_panes_and_a_reload_keeps_who_was_chosen(
    sandbox: Sandbox,
) -> None:
    """390 px wide (a phone): the panes stack with nothing scrolling sideways; the chat is a
    live log for screen readers; the chosen guardian and staff member survive a reload; a
    resolved escalation's post has no button left."""
    ARTIFACTS.mkdir(exist_ok=True)  # noqa: ASYNC240 - once, before the browser starts
    async with opened_page(390, 844) as page:
        await page.goto(sandbox.url + "/")
        phone, slack = page.locator("#phone"), page.locator("#slack")
        await page.select_option("#family", "g-megan")
        await page.select_option("#staff", "U0DEMO05")  # Tamara, the coordinator
        await expect(phone).to_contain_text("Ethan has an appointment")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            "the page scrolls sideways at 390 px"
        )
        phone_box = await page.locator("#phone-pane").bounding_box()
        slack_box = await page.locator("#slack-pane").bounding_box()
        assert phone_box and slack_box and slack_box["y"] >= phone_box["y"] + phone_box["height"]
        await expect(page.locator("#phone-messages")).to_have_attribute("role", "log")

        await page.reload()
        await expect(page.locator("#family")).to_have_value("g-megan")
        await expect(page.locator("#staff")).to_have_value("U0DEMO05")
        await expect(phone).to_contain_text("Ethan has an appointment")

        await page.select_option("#family", "g-grace")  # no reminder waits for her answer
        await send(page, "phone", "Is there parking near the clinic?")
        thread = slack.locator(".thread", has_text="Is there parking near the clinic?")
        await thread.get_by_role("button", name="Claim").click()
        await expect(thread).to_contain_text("Claimed by")
        await thread.get_by_role("button", name="Resolve").click()
        await expect(thread).to_contain_text("Resolved by")
        await expect(thread.locator(".actions").first).to_have_count(0)
        await page.screenshot(path=str(ARTIFACTS / "sandbox-console-390.png"), full_page=True)


#: Every visible text's contrast against the background it is drawn on (WCAG 2 relative
#: luminance), as the browser computes the colours: the elements below AA (4.5:1; 3:1 for large
#: text, 24 px, or 18.7 px bold).
LOW_CONTRAST = """() => {
  const parse = (c) => {
    const m = c.match(/[\\d.]+/g).map(Number);
    return m.length > 3 ? m : [...m, 1];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.opacity === "0") continue;
    const fg = lum(parse(style.color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const what = `${el.tagName.toLowerCase()}.${el.className}`;
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < needed) low.push(`${what}: ${ratio.toFixed(2)} "${text}"`);
  }
  return low;
}"""


async def test_every_text_on_the_console_meets_wcag_aa_contrast(sandbox: Sandbox) -> None:
    async with opened_page(1400, 1000) as page:
        await page.goto(sandbox.url + "/")
        await page.select_option("#family", "g-megan")
        await page.select_option("#staff", "U0DEMO05")
        await expect(page.locator("#phone")).to_contain_text("Ethan has an appointment")
        await expect(page.locator("#activity")).to_contain_text("delivered")
        await send(page, "phone", "1")  # her own bubble, and the answer
        await expect(page.locator("#phone")).to_contain_text("Thank you! Ethan's appointment")
        await page.locator("#slack").get_by_role("button", name="Open Home").click()
        await expect(page.locator("#slack")).to_contain_text("The practice")
        low = await page.evaluate(LOW_CONTRAST)
        assert low == [], "\n".join(low)
