"""Notebooks 01, 03, 05 and 06 as a person sees them: a real JupyterLab on loopback, driven by
Playwright with Debian's Chromium, every cell run with the test doubles, the tuning, review and
labelling buttons clicked.

Asserts on the rendered page: widget controls are real controls (not their text fallback), the
result tables are there, the button is disabled while the trial runs and enabled after, and no
cell shows stderr (tracebacks render as stderr too). Screenshots go to ``results/screenshots/``.

Needs ``chromium`` on PATH (``make test`` installs Debian's package; Playwright's own browser
download is not used, it needs the network) and the ``playwright`` package (dev extra); without
either the tests skip and say which is missing. Every wait is bounded, and the server (with its
kernels) is always shut down.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.yaml"
SYNTH_SAMPLE = ROOT / "ragbench" / "demo" / "synth_sample.jsonl"
SCREENSHOTS = ROOT / "results" / "screenshots"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
SERVER_START_S = 120  # JupyterLab starts in ~5 s idle; 2 shared cores under load need more
RUN_ALL_S = 240  # notebook 01: 4 trials x 8 questions with the test doubles
CLICK_S = 180  # one fake trial on 2 questions
UI_MS = 60_000  # page loads, menus, kernel start
LAB_SETTINGS = {
    # No news / update toasts over the notebook, and every cell in the DOM (no virtualisation),
    # so that the assertions and screenshots see the whole notebook.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,  # no "Select Kernel" dialog
    },
}


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("browser tests need Debian's chromium on PATH (make test installs it)")
    return path


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/notebooks/{name}?token={self.token}&reset"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_notebook(name: str, dest: Path, parameters: dict[str, Any]) -> None:
    """A copy of notebooks/NAME whose injected parameters select the test doubles."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(ROOT / "notebooks" / name))
    nbformat.write(parameterize_notebook(nb, parameters), dest / name)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except (urllib.error.URLError, OSError):
        return 0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token, serving a temp root: notebooks/ (parameterised copies
    of 01, 03, 05 and 06), experiments/smoke.yaml, data/questions.jsonl (a copy of the synthesized
    sample) and an empty results/ (06 labels results/label.duckdb, which its test writes)."""
    _chromium()
    root = tmp_path_factory.mktemp("lab")
    for sub in ("notebooks", "experiments", "results", "settings", "runtime", "config", "data"):
        (root / sub).mkdir()
    shutil.copy(SMOKE, root / "experiments" / "smoke.yaml")
    _copy_notebook(
        "01-run-experiment.ipynb", root / "notebooks", {"experiment": "../experiments/smoke.yaml"}
    )
    _copy_notebook(
        "03-tune-interactively.ipynb", root / "notebooks", {"n_questions": 2, "fake": True}
    )
    shutil.copy(SYNTH_SAMPLE, root / "data" / "questions.jsonl")
    _copy_notebook(
        "05-review-questions.ipynb",
        root / "notebooks",
        {"questions_path": "../data/questions.jsonl"},
    )
    _copy_notebook(
        "06-label-judged.ipynb",
        root / "notebooks",
        {"db": "../results/label.duckdb", "experiment": "smoke", "labeller": "browser", "n": 8},
    )
    for rel, settings in LAB_SETTINGS.items():
        path = root / "settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "settings"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        # the kernel imports ragbench from this checkout, as the tests do
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while _get(f"{url}/api/status?token={token}") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (root / "server.log").read_text()[-2000:]
                pytest.fail(f"JupyterLab did not start within {SERVER_START_S} s:\n{tail}")
            time.sleep(0.5)
        yield Lab(url, token, root)
    finally:
        _stop(server, f"{url}/api/shutdown?token={token}")
        log.close()


def _stop(server: subprocess.Popen[bytes], shutdown_url: str) -> None:
    """Shut the server down through its API (it stops its kernels), then make sure of it."""
    try:
        urllib.request.urlopen(urllib.request.Request(shutdown_url, method="POST"), timeout=10)
    except (urllib.error.URLError, OSError):
        pass
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the group started for this server only
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = _chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need the playwright package (dev extra)"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _open(browser: Any, lab: Lab, name: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(UI_MS)
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_function(
        "() => document.querySelector('#jp-main-statusbar')?.textContent.includes('| Idle')",
        timeout=UI_MS,
    )  # the kernel has started and is idle
    return page


def _wait_idle(page: Any, timeout_ms: int) -> None:
    page.wait_for_selector(
        '.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=timeout_ms
    )


def _run_all(page: Any, timeout_s: int) -> None:
    """Run > Run All Cells, then wait until every code cell has an execution count."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=timeout_s * 1000,
    )
    _wait_idle(page, timeout_s * 1000)


def _no_stderr(page: Any) -> None:
    shown = page.locator(STDERR).all_inner_texts()
    assert not shown, "stderr shown in a cell:\n" + "\n---\n".join(t[:500] for t in shown)


def _shot(page: Any, name: str, locator: Any = None) -> Path:
    """The page, or the top of one element (as much of it as the window shows), as a PNG."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    if locator is None:
        page.screenshot(path=str(path))
        return path
    locator.evaluate("el => el.scrollIntoView({block: 'start'})")
    box = locator.bounding_box()
    bottom = page.viewport_size["height"] - 30  # above the status bar
    clip = {**box, "height": min(box["height"], bottom - box["y"])}
    page.screenshot(path=str(path), clip=clip)
    return path


def test_notebook_01_shows_the_comparison(lab: Lab, browser: Any) -> None:
    page = _open(browser, lab, "01-run-experiment.ipynb")
    try:
        _run_all(page, RUN_ALL_S)
        _no_stderr(page)
        # tqdm's bars render as live widgets, not as their text fallback
        assert page.locator(".jp-OutputArea-output .widget-hprogress").count() >= 1
        assert page.get_by_text("FAKE MODELS").first.is_visible()
        comparison = page.locator(".jp-CodeCell").filter(has_text="rep.show()")
        assert comparison.locator(".jp-OutputArea-output table").count() >= 1
        assert comparison.locator(".jp-OutputArea-output img").count() >= 1  # charts inline
        assert str(lab.root) not in comparison.inner_text()
        _shot(page, "01-comparison.png", comparison)
    except Exception:
        _shot(page, f"failed-{page.url.rsplit('/', 1)[-1].split('?')[0]}.png")  # for a person
        raise
    finally:
        page.close()


def test_notebook_03_tuning_panel_click(lab: Lab, browser: Any) -> None:
    page = _open(browser, lab, "03-tune-interactively.ipynb")
    try:
        _run_all(page, UI_MS // 1000)
        _no_stderr(page)
        panel = page.locator(".jp-CodeCell").filter(has_text="controls.box()")
        for control in ("select", "button", ".widget-slider"):
            assert panel.locator(f".jupyter-widgets {control}").count() >= 1, control
        history = page.locator(".jp-CodeCell").filter(has_text="history(db, experiment_name)")
        assert "No trials yet" in history.inner_text()

        button = panel.get_by_role("button", name="Run trial")
        # Record what the page shows while the trial runs; the fake trial may take only seconds.
        button.evaluate(
            """(b) => {
                window.__seen = {disabled: false, status: []};
                const status = b.closest('.widget-vbox').querySelector('.widget-html-content');
                new MutationObserver(() => {
                    if (b.disabled) window.__seen.disabled = true;
                    window.__seen.status.push(status.textContent);
                }).observe(b.closest('.widget-vbox'),
                           {attributes: true, childList: true, subtree: true,
                            characterData: true});
            }"""
        )
        button.dblclick()  # a double click must run one trial, not two
        panel.locator(".ragbench-trial").wait_for(timeout=CLICK_S * 1000)
        panel.get_by_text("done:").wait_for(timeout=CLICK_S * 1000)
        seen = page.evaluate("window.__seen")
        assert seen["disabled"], "the button was never disabled while the trial ran"
        assert button.is_enabled()
        assert any(s.endswith(" s") for s in seen["status"]), seen["status"][-5:]
        # the stage doing the work is named as soon as it starts, not the last one that ticked
        assert any(s.startswith("answer+judge: question 0 of 2 ") for s in seen["status"]), seen[
            "status"
        ]
        result = panel.locator(".ragbench-trial")
        assert "cited sources" in result.inner_text() and "answer" in result.inner_text()
        assert result.locator("table").count() >= 1
        assert panel.locator(".ragbench-history table").count() == 1
        time.sleep(2)  # a queued second click would have started its run by now
        assert button.is_enabled() and panel.locator(".ragbench-history tbody tr").count() == 1
        assert "sentence 256/32, hashing, dense k=3, default" in panel.inner_text()
        _no_stderr(page)
        assert "Warning" not in panel.inner_text()
        _passages_whole_and_cited_ticked(result, lab)
        result.locator("details").first.evaluate("d => { d.open = true; }")  # show passages
        _shot(page, "03-tuning-panel.png", panel)
    except Exception:
        _shot(page, f"failed-{page.url.rsplit('/', 1)[-1].split('?')[0]}.png")  # for a person
        raise
    finally:
        page.close()


def _passages_whole_and_cited_ticked(result: Any, lab: Lab) -> None:
    """Every retrieved passage of the trial reads whole once unfolded, and the cited column ticks
    exactly the passages the answer cites as [k] (not every passage of a cited document)."""
    from ragbench.pipeline.prompts import cited_passages
    from ragbench.store import Store

    store = Store(lab.root / "results" / "ragbench.duckdb", read_only=True)
    records = store.records(str(store.runs("interactive").run_id.iloc[-1]))
    result.evaluate("el => el.querySelectorAll('details').forEach(d => { d.open = true; })")
    shown = " ".join(result.inner_text().split())
    longest = max((c for r in records for c in r.retrieved_contexts), key=len)
    assert len(longest) > 300 and " ".join(longest.split()) in shown
    ticks = result.evaluate(
        """el => [...el.querySelectorAll('details table')].map(t =>
            [...t.querySelectorAll('tbody tr')].map(r => r.cells[2].textContent))"""
    )
    expected = []
    for r in records:
        cited = cited_passages(r.response, len(r.retrieved_contexts))
        n = len(r.retrieved_contexts)
        expected.append(["\u2713" if k in cited else "" for k in range(1, n + 1)])
    assert ticks == expected and any("\u2713" in row for row in ticks)


def test_notebook_05_review_panel_clicks(lab: Lab, browser: Any) -> None:
    page = _open(browser, lab, "05-review-questions.ipynb")
    questions = lab.root / "data" / "questions.jsonl"
    try:
        _run_all(page, UI_MS // 1000)
        _no_stderr(page)
        panel = page.locator(".jp-CodeCell").filter(has_text="panel = ReviewPanel(review)")
        # Run All previews the scripted rule and saves nothing: the file keeps every byte
        assert questions.read_bytes() == SYNTH_SAMPLE.read_bytes()
        panel.get_by_text("no unsaved changes").wait_for()
        rule = page.locator(".jp-CodeCell").filter(has_text="check_rule(review")
        assert "would reject 1 of 1 pending question(s); a preview, nothing changed" in (
            rule.locator(".jp-OutputArea-output").inner_text()
        )
        for control in ("select", "button", ".widget-slider", "textarea", ".widget-text input"):
            assert panel.locator(f".jupyter-widgets {control}").count() >= 1, control
        card = panel.locator(".ragbench-review-card")
        assert "Who was the first director" in card.inner_text()
        assert card.locator("mark").count() == 1  # the evidence, inside its passage
        panel.get_by_role("button", name="Next").click()
        card.get_by_text("shared computer catalogue in 1998").wait_for()
        assert card.locator("mark").count() == 2  # a multi-passage question: one span in each

        reject = panel.get_by_role("button", name="Reject")
        reject.click()  # no reason typed yet: a message, no decision
        panel.get_by_text("in the reason box first").wait_for()
        panel.locator(".widget-text input").fill("too broad: two questions in one")
        reject.click()
        panel.get_by_text("rejected synth-1a96c5342846: too broad").wait_for()
        assert "How many e-books" in card.inner_text()  # moved on to the next question
        panel.get_by_text("1 unsaved change(s)").wait_for()
        panel.get_by_role("button", name="Save file").click()
        panel.get_by_text("saved 6 rows to").wait_for()
        saved = questions.read_text().splitlines()
        multi = json.loads(saved[1])
        assert (
            multi["status"] == "rejected" and multi["reason"] == "too broad: two questions in one"
        )
        assert json.loads(saved[3])["status"] == "pending"  # the previewed rule changed nothing
        panel.get_by_text("no unsaved changes").wait_for()
        assert str(lab.root) not in panel.inner_text()
        _no_stderr(page)
        assert "Warning" not in panel.inner_text()
        panel.get_by_role("button", name="Previous").click()
        card.get_by_text("too broad: two questions in one").wait_for()
        _shot(page, "05-review-panel.png", panel)
    except Exception:
        _shot(page, f"failed-{page.url.rsplit('/', 1)[-1].split('?')[0]}.png")  # for a person
        raise
    finally:
        page.close()


def test_notebook_06_label_panel_clicks_and_resumes(lab: Lab, browser: Any) -> None:
    import ragbench
    from ragbench.config.experiment import load_config
    from ragbench.results.labels import read_labels
    from ragbench.store import Store

    db = lab.root / "results" / "label.duckdb"
    run_id = ragbench.run(load_config(SMOKE), db=db, progress=False).run_id
    page = _open(browser, lab, "06-label-judged.ipynb")
    try:
        _run_all(page, UI_MS // 1000)
        _no_stderr(page)
        panel = page.locator(".jp-CodeCell").filter(has_text="panel = LabelPanel(")
        for control in ("button", ".widget-text input"):
            assert panel.locator(f".jupyter-widgets {control}").count() >= 1, control
        panel.get_by_text("0 of 8 labelled").wait_for()
        card = panel.locator(".ragbench-label-card")
        assert "Is every claim of the answer supported" in card.inner_text()
        assert "cited" in card.inner_text() and "judge" in card.inner_text()
        first = card.inner_text()
        # by the button's text, whole: the accessible name also holds the icon's glyph
        panel.locator("button").filter(has_text=re.compile(r"^Supported$")).click()
        panel.get_by_text("1 of 8 labelled").wait_for()
        panel.get_by_text("item 2 of 8").wait_for()
        assert card.inner_text() != first  # moved on to the next item
        no = panel.locator("button").filter(has_text=re.compile(r"^Not supported$"))
        no.click()  # disagrees with the fake judge's "Supported": a reason is needed
        panel.get_by_text("type why in the reason").wait_for()
        panel.locator(".widget-text input").fill("the year is in no passage")
        no.click()
        panel.get_by_text("2 of 8 labelled").wait_for()
        labels = read_labels(Store(db, read_only=True), run_id)
        assert sorted(labels.value) == [0.0, 1.0] and set(labels.labeller) == {"browser"}
        assert "the year is in no passage" in set(labels.reason)
        assert str(lab.root) not in panel.inner_text()
        _no_stderr(page)
        assert "Warning" not in panel.inner_text()
        _shot(page, "06-label-panel.png", panel)

        page.reload()  # the notebook opened again: the panel resumes at item 3
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        _run_all(page, UI_MS // 1000)
        panel = page.locator(".jp-CodeCell").filter(has_text="panel = LabelPanel(")
        panel.get_by_text("2 of 8 labelled").wait_for()
        assert "item 3 of 8" in panel.inner_text()
        report = page.locator(".jp-CodeCell").filter(has_text="rep = load(db")
        assert "faithfulness: judge only: 2 label(s), fewer than 10 on 4 of 4" in (
            report.inner_text()
        )
        _no_stderr(page)
    except Exception:
        _shot(page, f"failed-{page.url.rsplit('/', 1)[-1].split('?')[0]}.png")  # for a person
        raise
    finally:
        page.close()
