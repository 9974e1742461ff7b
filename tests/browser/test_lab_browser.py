"""`make lab` really serves JupyterLab: the real target is started headless on a free port, Debian's
Chromium (driven by Selenium through /usr/bin/chromedriver) opens a chapter notebook, clears its
stored outputs, runs its first code cell with Shift+Enter, and the banner that cell prints (live
mode with a Docker engine, demo mode without) appears in the page.

Without chromium and chromium-driver the test is skipped, unless COURSE_REQUIRE_BROWSER=1 (set by
.ci/run), where it fails. The server log, ChromeDriver's log and, on failure, a screenshot and the
page's HTML are left in build/browser/.

The notebook is opened from the repository (the course's real layout) with autosave off, and with
throw-away JupyterLab settings, workspaces, runtime and checkpoint folders: the test asserts that it
leaves chapters/ as it found it. The cell it runs empties that notebook's scratch folder
(chapters/<part>/_travail/<notebook>/), so `make test` runs this test after nbval, not beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from autograder.probes.waits import Timeout, wait_until
from cases import free_port

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "browser"
NOTEBOOK = "chapters/1-introduction/01-vm-et-conteneurs.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_ENV = "COURSE_REQUIRE_BROWSER"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")
# The first code cell calls autograder.notebook.start(), whose banner names the mode.
LIVE_BANNER = "joignable : les commandes de ce carnet s'exécutent pour de vrai."
DEMO_BANNER = "mode démonstration"
SERVER_DEADLINE = 120  # make's venv check, the preflight and JupyterLab's start, on a loaded CI machine
PAGE_DEADLINE = 90     # JupyterLab's bundle in a cold headless Chromium, then the kernel's start
STOP_DEADLINE = 20  # the API shutdown; then SIGTERM, then SIGKILL (seen hanging when asked mid page load)
# Throw-away user settings: no autosave (the run must not write outputs into the .ipynb), no news
# or update checks (no network, no toast over the notebook).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        why = (f"{' and '.join(missing)} missing: install Debian's browser and its driver "
               "(apt-get install chromium chromium-driver)")
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {why}")
        pytest.skip(why)


def docker_answers() -> bool:
    """The mode the notebook should pick, found independently of autograder.notebook."""
    if os.environ.get("COURSE_NO_DOCKER") or any(k.startswith("BINDER_") for k in os.environ):
        return False
    try:
        import docker

        docker.from_env(timeout=10).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means the notebook sees no engine
        return False


def api(url: str, token: str, method: str = "GET", timeout: float = 5) -> int:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.is_file() else ""


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (the kernels started with a connection file in
    the test's runtime folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def stopped(proc: subprocess.Popen) -> bool:
    """``make`` has exited (and is reaped: a zombie leader still counts in its group) and nothing
    is left in its process group."""
    if proc.poll() is None:
        return False
    try:
        os.killpg(proc.pid, 0)
        return False
    except ProcessLookupError:
        return True


def gone_within(proc: subprocess.Popen, seconds: float) -> bool:
    """Whether ``make lab`` and its process group are gone within ``seconds``."""
    try:
        return wait_until(lambda: stopped(proc), seconds, max_interval=0.5)
    except Timeout:
        return False


@contextmanager
def make_lab(tmp: Path, log_path: Path):
    """``make lab`` on a free port with a token; yields (base URL, token) once /api/status answers.
    The server is shut down through its API, then its process group is killed if it lingers."""
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    settings, runtime = tmp / "lab-settings", tmp / "runtime"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    # The user's own Jupyter configuration, data (kernels, trust database) and lab settings stay out.
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_DATA_DIR=str(tmp / "data"),
               # the notebook's scratch folder (emptied by its first cell) too: nbval may use the repo's
               COURSE_SCRATCH_DIR=str(tmp / "travail"))
    # JupyterLab checkpoints a notebook when it opens it: into the temp folder, not the repository.
    args = (f"--no-browser --port={port} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1 "
            f"--IdentityProvider.token={token} --FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"JUPYTER_ARGS={args}"], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + SERVER_DEADLINE
            while True:
                try:
                    if api(f"{base}/api/status", token) == 200:
                        break
                except (urllib.error.URLError, OSError):
                    pass
                if proc.poll() is not None:
                    pytest.fail(f"`make lab` exited ({proc.returncode}) before serving:\n{tail(log_path)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"`make lab` did not answer on {base} within {SERVER_DEADLINE} s:\n{tail(log_path)}")
                try:
                    proc.wait(timeout=0.25)  # the polling interval, also noticing an early exit
                except subprocess.TimeoutExpired:
                    pass
            yield base, token
        finally:
            try:
                api(f"{base}/api/shutdown", token, method="POST")
            except (urllib.error.URLError, OSError):
                pass
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if gone_within(proc, STOP_DEADLINE if sig == signal.SIGTERM else 5):
                    break
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
            proc.wait(timeout=10)
            # Kernels run in their own session: one the server failed to shut down is killed here.
            for pid in processes_mentioning(str(runtime)):
                os.kill(pid, signal.SIGKILL)


def chromium(tmp: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tmp / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(OUT / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


def chapters_state() -> tuple[str, str]:
    """``git status`` of chapters/, ignored files included (a checkpoint, an autosaved copy), and the
    notebook's hash: what must be the same after the test (the tree may hold others' edits)."""
    status = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", "chapters"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30, check=True).stdout
    # _travail/ is the notebooks' scratch folder (git-ignored, emptied by the first cell): not ours.
    status = "\n".join(line for line in status.splitlines() if "/_travail/" not in line)
    return status, hashlib.sha256((ROOT / NOTEBOOK).read_bytes()).hexdigest()


PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
FIRST_CODE_CELL = f"{PANEL} .jp-Notebook .jp-CodeCell"
EDIT_MENU = "//li[contains(@class, 'lm-MenuBar-item')][normalize-space(.)='Edit']"
CLEAR_ALL_OUTPUTS = ".lm-Menu-item[data-command='editmenu:clear-all']"
PROMPT_AND_OUTPUT = """const cell = document.querySelector(arguments[0]);
if (!cell) return 'no code cell in the page';
const output = cell.querySelector('.jp-OutputArea');
return cell.querySelector('.jp-InputPrompt').innerText + ' ' + (output ? output.innerText : '');"""


def run_first_code_cell(driver, expected: str) -> str:
    """Clear the notebook's stored outputs (Edit menu), select its first code cell, Shift+Enter, and
    wait for ``expected`` in its output with a fresh execution count. Returns the output's text."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    # JupyterLab re-renders cells (windowed notebook): every condition finds its elements afresh.
    wait = WebDriverWait(driver, PAGE_DEADLINE, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,))

    def find(selector: str, within: str = "") -> list:
        """Elements now (CSS, or XPath when ``selector`` starts with //); an unexpected JupyterLab
        dialog (an error, a kernel choice) fails at once."""
        dialogs = driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog")
        if dialogs:
            raise AssertionError(f"JupyterLab showed a dialog: {dialogs[0].text!r}")
        root = driver.find_element(By.CSS_SELECTOR, within) if within else driver
        return root.find_elements(By.XPATH if selector.startswith("//") else By.CSS_SELECTOR, selector)

    def click(selector: str, within: str = "") -> bool:
        found = find(selector, within)
        if found:
            found[0].click()
        return bool(found)

    def prompt() -> str:
        return find(".jp-InputPrompt", FIRST_CODE_CELL)[0].text.strip()

    def output() -> str:
        areas = find(".jp-OutputArea", FIRST_CODE_CELL)
        return areas[0].text if areas else ""

    def step(what: str, condition) -> None:
        try:
            wait.until(lambda d: condition())
        except TimeoutException:
            state = driver.execute_script(PROMPT_AND_OUTPUT, FIRST_CODE_CELL)
            raise AssertionError(f"waited {PAGE_DEADLINE} s for: {what}; the first code cell's prompt and "
                                 f"output are {state!r} (screenshot in build/browser/)") from None

    step("the kernel to be idle", lambda: find(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']"))
    step("the stored output of the first code cell",
         lambda: find(".jp-OutputArea-output", FIRST_CODE_CELL))
    # Stored outputs cleared, so the banner awaited below can only come from this run.
    step("the Edit menu to open", lambda: click(EDIT_MENU))
    step("Edit > Clear Outputs of All Cells", lambda: click(CLEAR_ALL_OUTPUTS))
    step("the outputs and execution counts to be cleared",
         lambda: not find(".jp-OutputArea-output", FIRST_CODE_CELL) and prompt() in ("[ ]:", ""))
    # Select the cell (command mode) and run it as a student would.
    step("the first code cell to be selected", lambda: click(".jp-InputPrompt", FIRST_CODE_CELL))
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    step(f"the first code cell to run ([1]:) and print {expected!r}",
         lambda: prompt() == "[1]:" and expected in output())
    return output()


@pytest.mark.timeout(300)  # a backstop: each wait has its own deadline; the finally paths still run
def test_make_lab_serves_a_chapter_notebook_that_runs(tmp_path: Path):
    """`make lab` serves JupyterLab; a chapter notebook opens in Chromium, its first cell runs and
    prints the mode banner in the page."""
    require_browser()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("failure-*"):
        old.unlink()
    expected = LIVE_BANNER if docker_answers() else DEMO_BANNER
    before = chapters_state()
    with make_lab(tmp_path, OUT / "lab.log") as (base, token):
        driver = chromium(tmp_path)
        try:
            driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            output = run_first_code_cell(driver, expected)
        except BaseException:
            with suppress(Exception):  # a crashed browser must not hide the failure itself
                driver.save_screenshot(str(OUT / "failure-screenshot.png"))
                (OUT / "failure-page.html").write_text(driver.page_source, encoding="utf-8")
            raise
        finally:
            driver.quit()
    assert expected in output
    status, digest = chapters_state()
    assert digest == before[1], f"{NOTEBOOK} was written (autosave?)"
    assert status == before[0], ("JupyterLab changed chapters/: "
                                 f"{sorted(set(status.splitlines()) ^ set(before[0].splitlines()))}")
