"""The HTML report in a real browser (issue 17, F): Playwright drives Debian's Chromium.

Every image loads, the console shows no error, and every table-of-contents link lands on its
section. Without Playwright or Chromium the test is skipped, except where
LAZYTRAIN_REQUIRE_BROWSER=1 (`.ci/run` sets it, after installing both): there a missing
browser fails the test instead of hiding it.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from lazytrain.experiments import ResultStore, compute_point, expand, validate_spec
from lazytrain.report import write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium without a sandbox (root in a container), a GPU or any network of its own.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser():
    """(sync_playwright, executable), or skip (fail where the browser is required)."""
    required = os.environ.get("LAZYTRAIN_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "playwright is not installed (pip install -e '.[test]')"
    else:
        if os.path.exists(CHROMIUM):
            return sync_playwright, CHROMIUM
        why = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if required:
        pytest.fail(f"LAZYTRAIN_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


def _store(out):
    """A store with what the report draws differently: a panel against N (theory, exact, three
    seeds), a sweep over d (three dimensions at N = d and 2d) and lazily scaled SGD points."""
    specs = [
        {"name": "panel", "task": {"type": "paper", "d": 10, "seed": 100}, "n_neurons": [2, 5, 10, 20],
         "seeds": [0, 1, 2], "kinds": ["theory", "exact"]},
        *({"name": f"sweep{d}", "task": {"type": "paper", "d": d, "seed": 100}, "rho": [1.0, 2.0],
           "regimes": ["nt"], "seeds": [0, 1], "kinds": ["exact"]} for d in (6, 8, 12)),
        *({"name": f"lazy{a}", "task": {"type": "paper", "d": 6, "seed": 100}, "regimes": ["nn"],
           "n_neurons": [2], "kinds": ["theory", "sgd"],
           "training": {"steps": 40, "lr": 0.01, "a0": "ones", "alpha": a}} for a in (0.1, 10.0)),
    ]
    with ResultStore.open_or_create(out) as store:
        for data in specs:
            spec = validate_spec(data)
            run = store.begin_run([spec], "local", 1)
            done = store.keys()
            for p in expand(spec):
                if p.key not in done:
                    store.add(p, compute_point(p, pin=False), run)
            store.end_run(run, "done")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    _store(out)
    return out


def test_the_report_sections_sweep_over_d_and_lazy_scaling(store_dir):
    import re

    from lazytrain import QuadraticTarget, exact_risk, random_weights

    page = write_report(store_dir, store_dir / "r.html").read_text()
    headings = re.findall(r"<h2 id='(s\d+)'>(.*?)</h2>", page)
    titles = [t for _, t in headings]
    # the three two-width dimensions are one section against d, not three sections
    assert sum("against the dimension d" in t for t in titles) == 1
    assert not any(re.search(r"paper\(d=(6|8|12), seed=100\), σ = quadratic$", t) for t in titles)
    # the lazily scaled points: the α section only (no N plot of a lone theory point), with the
    # exact NT + second-layer risk of the same draw
    assert [t for t in titles if "d=6" in t] == ["quadratic: paper(d=6, seed=100), σ = quadratic: lazy scaling"]
    limit = exact_risk(QuadraticTarget.paper(d=6, seed=100), "nt", random_weights(6, 2, seed=0), "quadratic",
                       second_layer=True)
    assert f"<td class=\"\">{limit:.4f}</td>" in page
    # a table of contents linking every section, in order
    toc = re.search(r"<nav id='contents'>(.*?)</nav>", page, re.S).group(1)
    assert re.findall(r"<a href='#(s\d+)'>(.*?)</a>", toc) == headings


def test_report_tick_labels_are_mathtext_and_store_text_is_literal():
    import matplotlib.pyplot as plt

    from lazytrain.report import curves_figure

    hist = {"samples": [100, 1000, 10000], "risk": [1.0, 0.1, 0.01]}
    records = [{"kind": "sgd", "regime": "nn", "n_neurons": 4, "seed": 0, "extra_json": json.dumps({"history": hist})}]
    fig = curves_figure(records, "cost $5 and $x_{")
    ax = fig.axes[0]
    labels = ax.get_yticklabels()
    try:
        assert labels and all(t.get_parse_math() for t in labels)  # 10^{-2} drawn as 10⁻², not raw
        assert any("mathdefault" in t.get_text() for t in labels)
        assert ax.title.get_text().startswith(r"cost \$5 and \$x_{")  # drawn literally
    finally:
        plt.close(fig)


def test_ci_installs_chromium_and_requires_the_browser_test():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "apt-get install" in ci and "chromium" in ci
    assert "LAZYTRAIN_REQUIRE_BROWSER=1 pytest" in ci


def test_the_report_in_chromium_images_console_and_contents(store_dir):
    sync_playwright, executable = _browser()
    page_path = write_report(store_dir)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            errors = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth > 0])")
            assert len(images) == 3, images  # the panel, the sweep over d, the α plot
            assert all(ok for _, ok in images), [alt for alt, ok in images if not ok]
            links = page.eval_on_selector_all("nav#contents a",
                                              "as => as.map(a => [a.getAttribute('href'), a.textContent])")
            headings = page.eval_on_selector_all("h2[id]", "hs => hs.map(h => h.textContent)")
            assert [text for _, text in links] == headings  # every section listed, in order
            assert any("against the dimension d" in h for h in headings)
            assert any("lazy scaling" in h for h in headings)
            for href, text in links:
                page.click(f"nav#contents a[href='{href}']")
                landed = page.evaluate(
                    """href => { const h = document.querySelector(href), r = h.getBoundingClientRect();
                                 return [location.hash, h.textContent, r.top, window.innerHeight,
                                         window.scrollY + window.innerHeight >= document.body.scrollHeight - 1]; }""",
                    href)
                hash_, heading, top, height, at_bottom = landed
                assert hash_ == href and heading == text
                # at the top of the window, or as high as the end of the page lets it go
                assert -2 <= top < height and (top < 5 or at_bottom), (text, top)
            assert errors == []
        finally:
            browser.close()
