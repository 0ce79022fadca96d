"""The report of `fewlabel run` opened in headless Chromium (Debian's `chromium` package): every image loads,
the tables are there, nothing goes wrong on the page, and nothing is fetched from elsewhere.

scripts/test.sh installs chromium where it is missing and apt-get can; where that failed, this test is
skipped with a message saying so.
"""

import json
import re
import shutil
import subprocess
import textwrap

import pytest

from fewlabel.cli import main
from fewlabel.report import CSP

EXPERIMENT = """
title = "Digits <in a browser> & co"
[data]
name = "digits"
max_rows = 400
[pretrain]
method = "autoencoder"
hidden = [64]
latent = 16
epochs = 3
[tasks.classify]
labels = [30]
seeds = 1
epochs = 3
[tasks.cluster]
[tasks.map]
method = "pca"
max_points = 200
[tasks.detect]
classes = [0, 1, 2, 3, 4]
epochs = 3
"""

# Added to a copy of the page only (the report itself has no script): after load, write what the browser saw
# into the DOM, which --dump-dom prints.
PROBE = """<script>
window.__problems = [];
window.onerror = function (m) { window.__problems.push("error: " + m); };
var __err = console.error; console.error = function () { window.__problems.push("console.error: " +
  Array.prototype.join.call(arguments, " ")); __err.apply(console, arguments); };
document.addEventListener("securitypolicyviolation", function (e) {
  window.__problems.push("blocked: " + e.blockedURI + " (" + e.violatedDirective + ")"); });
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                   .map(function (i) { return i.alt; });
  var pre = document.createElement("pre"); pre.id = "fewlabel-probe";
  pre.textContent = JSON.stringify({images: imgs.length, broken: broken,
    tables: document.querySelectorAll("table").length,
    headings: Array.prototype.map.call(document.querySelectorAll("h2"), function (h) { return h.textContent; }),
    problems: window.__problems, title: document.title});
  document.body.appendChild(pre);
});
</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium could not be installed (scripts/test.sh installs Debian's chromium where apt-get can): "
                "the report's browser check is skipped")


def test_report_opens_in_headless_chromium_with_every_image_and_table(tmp_path, capsys):
    browser = _chromium()
    cfg = tmp_path / "exp.toml"
    cfg.write_text(textwrap.dedent(EXPERIMENT))
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    page = (out / "report.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert f'content="{CSP}"' in page and "<script" not in page
    probe_page = page.replace(CSP, CSP.replace("default-src 'none'", "default-src 'none'; script-src 'unsafe-inline'"))
    probe_page = probe_page.replace("<head>", "<head>" + PROBE, 1)
    copy = tmp_path / "probe.html"
    copy.write_text(probe_page)
    done = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           "--virtual-time-budget=15000", "--dump-dom", copy.as_uri()],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="fewlabel-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium printed no probe (exit {done.returncode}): {done.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&quot;", '"'))
    n_figures = sum(len(v) for v in metrics["figures"].values())
    assert seen["images"] == n_figures >= 9
    assert seen["broken"] == []
    assert seen["tables"] >= 6  # pretraining, classify (+ per class), clustering, detection, times
    assert seen["problems"] == []
    assert seen["title"] == "Digits <in a browser> & co"  # escaped in the file, the title itself in the browser
    assert seen["headings"] == ["Pretraining", "Classification with few labels", "Clustering", "2-D map",
                                "Outliers and unknown inputs", "Settings and times"]
    # the page as written (no probe) renders to a real picture
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
                    "--window-size=1200,2000", f"--screenshot={shot}", (out / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.stat().st_size > 50_000
