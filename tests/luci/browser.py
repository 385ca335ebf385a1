#!/usr/bin/env python3
"""A headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, for the
LuCI tests in tests/integration/luci.rs: one JSON command per line on stdin, one JSON answer
per line on stdout ({"ok": value} or {"error": "..."}), so that the Rust test keeps the
router and reads the kernel between the browser's steps.

Commands: {"open": url} (and wait until the page says it is ready or failed), {"text": css}
(the text of every match), {"attr": [css, name]}, {"click": css}, {"type": [css, text]}
(replace the value), {"select": [css, value]}, {"js": script} (its return value),
{"wait_text": [css, substring, seconds]} (until a match's text has it), {"screenshot": path}.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def driver():
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1800"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def until(fn, seconds, what):
    end = time.monotonic() + seconds
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError("gave up after %s s waiting for %s" % (seconds, what))
        time.sleep(0.05)


def run(d, cmd):
    if "open" in cmd:
        d.get(cmd["open"])
        state = until(lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-view-ready"), 20,
                      "the view to render (%s)" % cmd["open"])
        logs = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
        return {"ready": state, "errors": [e["message"] for e in logs]}
    if "text" in cmd:
        return [e.text for e in d.find_elements(By.CSS_SELECTOR, cmd["text"])]
    if "attr" in cmd:
        css, name = cmd["attr"]
        return [e.get_attribute(name) for e in d.find_elements(By.CSS_SELECTOR, css)]
    if "click" in cmd:
        d.find_element(By.CSS_SELECTOR, cmd["click"]).click()
        return True
    if "type" in cmd:
        css, text = cmd["type"]
        e = d.find_element(By.CSS_SELECTOR, css)
        e.clear()
        e.send_keys(text)
        return True
    if "select" in cmd:
        css, value = cmd["select"]
        Select(d.find_element(By.CSS_SELECTOR, css)).select_by_value(value)
        return True
    if "js" in cmd:
        return d.execute_script(cmd["js"])
    if "wait_text" in cmd:
        # Read in the page: a poll may replace the elements between two WebDriver calls.
        css, text, seconds = cmd["wait_text"]
        script = ("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)"
                  ".filter(t => t.includes(arguments[1]))")
        return until(lambda: d.execute_script(script, css, text), seconds, "%r in %s" % (text, css))
    if "screenshot" in cmd:
        return d.save_screenshot(cmd["screenshot"])
    raise ValueError("unknown command %r" % cmd)


def main():
    d = driver()
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    print(json.dumps({"ok": "ready"}), flush=True)
    for line in sys.stdin:
        try:
            answer = {"ok": run(d, json.loads(line))}
        except (WebDriverException, TimeoutError, ValueError, KeyError) as e:
            answer = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}
        print(json.dumps(answer), flush=True)
    d.quit()


if __name__ == "__main__":
    main()
