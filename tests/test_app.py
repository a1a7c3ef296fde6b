"""`severstal_app` in a real browser: the app started as a user starts it (one command, which prints its
address), driven by headless Chromium (Debian's `chromium`, through Playwright) through the whole loop --
a data folder refused, a tiny run launched and watched to `completed` with its curves, a second launch
refused while one runs, two runs compared, a broken record listed, an image uploaded and its attention
drawn, a corrupt and a wrong-sized upload refused in the page while the server goes on serving.

The screenshots go to `$SEVERSTAL_APP_SCREENSHOTS` when set (the docs' `nbs/images/app_*.png` are made
that way), else into the test's temporary folder. Without Chromium or Playwright the test is skipped,
saying why -- unless `SEVERSTAL_REQUIRE_BROWSER=1` (set by `.ci/run`), where that is a failure."""
import importlib.util, json, os, re, shutil, signal, socket, subprocess, sys, time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# as the machine's notes say: no sandbox as root, no GPU, and none of Chromium's own network traffic (there is no network)
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TINY = "data.synthetic_images=30 data.image_size=[64,400] data.batch_size=4 model.name=convnext_atto_cbam"
RUN_TIMEOUT = 300_000        # ms: a tiny run (two epochs of 21 images at 64x400) takes about 20 s on a 2-core CPU


def _browser_or_skip():
    why = None
    if importlib.util.find_spec("playwright") is None: why = 'Playwright is not installed (pip install -e ".[dev]")'
    if why is None and not CHROMIUM: why = "no chromium on PATH (apt-get install chromium)"
    if why and os.environ.get("SEVERSTAL_REQUIRE_BROWSER") == "1": pytest.fail(f"the browser test must run here: {why}")
    if why: pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(tmp_path):
    "severstal_app on a free port, its runs, data and cache in `tmp_path`, for the browser; stopped with Ctrl-C (SIGINT) at the end."
    _browser_or_skip()
    yield from _serve(tmp_path)


@pytest.fixture
def server(tmp_path):
    "The same, for a program (no browser needed)."
    yield from _serve(tmp_path)


def _serve(tmp_path):
    port, env = _free_port(), {**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp_path/"cache"), "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    (tmp_path/"data").mkdir()
    # (started from a background job -- a shell's `&`, some CI runners -- it inherits SIGINT ignored: the app installs its own handler)
    proc = subprocess.Popen([sys.executable, "-c", "from severstal_cbam.app import main; main()", f"runs={tmp_path/'runs'}",
                             f"data={tmp_path/'data'}", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out, t0 = [], time.time()
    while time.time() - t0 < 180:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None: break
        out.append(line)
        if line.startswith("severstal_app: serving on "): break
    assert out and out[-1].strip() == f"severstal_app: serving on http://127.0.0.1:{port}/ (runs: {tmp_path/'runs'}); Ctrl-C stops it", "".join(out)
    print(f"app started in {time.time() - t0:.1f} s")
    yield f"http://127.0.0.1:{port}/", tmp_path
    proc.send_signal(signal.SIGINT)
    try: rest = proc.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        proc.kill(); pytest.fail(f"severstal_app did not stop within 60 s of SIGINT:\n{proc.communicate()[0][-3000:]}")
    assert proc.returncode == 0 and "severstal_app: stopped" in rest, rest


def _shot(page, name, tmp):
    folder = Path(os.environ.get("SEVERSTAL_APP_SCREENSHOTS") or tmp/"screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder/f"app_{name}.png"), full_page=True)


def _launch(page, extra):
    page.locator("#extra textarea").fill(extra)
    expect = _expect()
    expect(page.locator("#train-command")).to_contain_text(extra.split()[-1])       # the command follows the form
    page.locator("#launch").click()
    expect(page.locator("#train-message")).to_contain_text("launched")
    return page.locator("#train-message").inner_text().split("launched ")[1].split(":")[0].strip()


def _expect():
    from playwright.sync_api import expect
    expect.set_options(timeout=30_000)        # CI runs this beside other tests on 2 cores: the page can take seconds to answer
    return expect


@pytest.mark.slow
@pytest.mark.longest
def test_app_in_browser(app):
    from playwright.sync_api import sync_playwright
    expect = _expect()
    url, tmp = app
    t0 = time.time()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="load")
        expect(page.locator("#train-command")).to_contain_text("severstal_train --config-name quickstart", timeout=60_000)

        # Train: a folder that is not in the Kaggle layout, then one outside the app's folders: messages, nothing launched
        (tmp/"data"/"flat").mkdir(); (tmp/"data"/"flat"/"0002cc93b.jpg").write_bytes(b"")
        page.locator("#source").get_by_label("folder").check()
        page.get_by_label("data folder").fill(str(tmp/"data"/"flat"))
        page.locator("#launch").click()
        expect(page.locator("#train-message")).to_contain_text("is not a Kaggle-format folder: no train.csv and no train_images/")
        page.get_by_label("data folder").fill("/etc")
        page.locator("#launch").click()
        expect(page.locator("#train-message")).to_contain_text("outside the app's folders")
        page.get_by_label("data folder").fill("")
        page.locator("#source").get_by_label("synthetic").check()

        # a tiny run: launched from the form, watched until it completes, its curves drawn
        page.locator("#epochs input").fill("2")
        first = _launch(page, TINY)
        expect(page.locator("#run-status")).to_contain_text(f"{first}: completed", timeout=RUN_TIMEOUT)
        expect(page.locator("#run-status")).to_contain_text("epoch 2/2")
        expect(page.locator("#run-curves img")).to_be_visible(timeout=30_000)
        expect(page.locator("#run-console textarea")).to_have_value(re.compile("test macro F1"))
        _shot(page, "train", tmp)

        # a second run, another seed and 6 epochs: no launch beside it; stopped after its first epoch, resumed to its end
        second = _launch(page, TINY + " seed=1 training.num_epochs=6")
        expect(page.locator("#launch")).to_be_disabled(timeout=10_000)   # one run at a time (the server refuses too: the app notebook)
        expect(page.locator("#run-status")).to_contain_text(re.compile(f"{second}: running · epoch [1-5]/6"), timeout=RUN_TIMEOUT)
        page.locator("#stop").click()
        expect(page.locator("#train-message")).to_contain_text(f"stopped {second}", timeout=120_000)
        expect(page.locator("#train-message")).to_contain_text("its record says interrupted")
        expect(page.locator("#resume")).to_be_enabled(timeout=10_000)
        page.locator("#resume").click()
        expect(page.locator("#train-message")).to_contain_text(f"resuming {second}")
        expect(page.locator("#run-status")).to_contain_text(f"{second}: completed · epoch 6/6", timeout=RUN_TIMEOUT)
        assert len(list((tmp/"runs").glob("experiment_*"))) == 2                # the resume continued the run in its folder
        for i, name in enumerate((first, second)): shutil.copytree(tmp/"runs"/name, tmp/"runs"/"multirun_copy"/str(i))   # a multirun of the two

        # Runs: every run listed, a broken record too; two compared, their curves overlaid
        (tmp/"runs"/"broken").mkdir(); (tmp/"runs"/"broken"/"results.json").write_text('{"status": "runn')
        page.get_by_role("tab", name="Runs").click()
        page.locator("#runs-refresh").click()
        table = page.locator("#runs-table")
        for name in (first, second): expect(table).to_contain_text(name)
        expect(table).to_contain_text("unreadable")
        for name in (first, second): page.locator("#compare-pick").get_by_label(name).check()
        page.locator("#compare").click()
        expect(page.locator("#compare-table")).to_contain_text("seed")
        expect(page.locator("#compare-table")).to_contain_text("auc_c1")
        expect(page.locator("#compare-curves img")).to_be_visible(timeout=30_000)
        _shot(page, "runs", tmp)
        page.get_by_text("ablation report of a multirun or search folder").click()
        page.locator("#group input").click()
        page.get_by_role("option", name="multirun_copy").click()
        expect(page.locator("#report-table")).to_contain_text("n_seeds")
        expect(page.locator("#report-table")).to_contain_text("0.")

        # Inspect: the first run; an uploaded training image (its labels known by name), then a corrupt and a wrong-sized file
        page.get_by_role("tab", name="Inspect").click()
        page.locator("#inspect-run input").click()
        page.get_by_role("option", name=first).click()
        image = next(p for p in sorted((tmp/"cache").rglob("train_images/*.jpg")))
        page.locator("#inspect-upload input[type=file]").set_input_files(str(image))
        expect(page.locator("#inspect-overlay img")).to_be_visible(timeout=60_000)
        expect(page.locator("#inspect-probs")).to_contain_text("probability")
        expect(page.locator("#inspect-predicted")).to_contain_text("predicted")
        expect(page.locator("#inspect-predicted")).to_contain_text("true")
        _shot(page, "inspect", tmp)
        (tmp/"corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
        page.locator("#inspect-upload button[aria-label='Clear']").click()
        page.locator("#inspect-upload input[type=file]").set_input_files(str(tmp/"corrupt.jpg"))
        expect(page.locator("#inspect-message")).to_contain_text("error")
        expect(page.locator("#inspect-message")).to_contain_text("corrupt.jpg")
        expect(page.locator("#inspect-overlay img")).to_have_count(0)          # no earlier image's result left beside the error
        _shot(page, "error", tmp)
        from PIL import Image
        Image.new("RGB", (800, 128)).save(tmp/"small.png")
        page.locator("#inspect-upload button[aria-label='Clear']").click()
        page.locator("#inspect-upload input[type=file]").set_input_files(str(tmp/"small.png"))
        expect(page.locator("#inspect-message")).to_contain_text("expected 256x1600")

        # the server still serves: a test image of the run is drawn after the errors
        page.locator("#inspect-test input").click()
        page.get_by_role("option").first.click()
        expect(page.locator("#inspect-message")).to_have_text("")
        expect(page.locator("#inspect-overlay img")).to_be_visible()
        browser.close()
    print(f"browser session: {time.time() - t0:.1f} s")


_LAUNCH_THEN_WAIT = """
import sys, time
from severstal_cbam.app import RunLauncher
run = RunLauncher(sys.argv[1]).launch(sys.argv[2:])
print(run, flush=True)
time.sleep(900)
"""


def test_a_run_outlives_the_app_that_launched_it(tmp_path):
    "The app's process killed (SIGKILL) while its run trains: the run goes on to `completed`, and the app, started again, lists it."
    from severstal_cbam.app import list_runs
    env = {**os.environ, "SEVERSTAL_CBAM_CACHE": str(tmp_path/"cache"), "PYTHONUNBUFFERED": "1"}
    app = subprocess.Popen([sys.executable, "-c", _LAUNCH_THEN_WAIT, str(tmp_path/"runs"), *TINY.split(), "training.num_epochs=6"],
                           stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    run = Path(app.stdout.readline().strip())
    status = lambda: json.loads((run/"results.json").read_text())["status"] if (run/"results.json").is_file() else None
    t0 = time.time()
    while status() != "running": assert time.time() - t0 < 300 and app.poll() is None, "the run did not start"; time.sleep(0.2)
    app.kill(); app.wait()                                             # the app dies; its run was printing every epoch
    while status() == "running": assert time.time() - t0 < 600, "the run did not end"; time.sleep(0.5)
    assert status() == "completed", (run/"console.log").read_text()[-3000:]
    assert "epoch 5/6" in (run/"console.log").read_text()
    rows = list_runs(tmp_path/"runs")
    assert rows.status.tolist() == ["completed"], rows


def test_the_api_launches_only_what_the_form_stands_for(server):
    "Gradio's API takes the form's 16 values from any program: a Hydra override that writes a file or reads the environment is refused."
    from gradio_client import Client
    from severstal_cbam.app import form_values, recipe_config
    url, tmp = server
    v = form_values(recipe_config("quickstart"))
    keys = ["model.name", "loss.type", "loss.gamma", "augment", "source", "data_path", "data.synthetic_images", "data.image_size",
            "data.batch_size", "training.num_epochs", "training.lr", "training.optimizer", "training.schedule", "seed"]
    client, pwned = Client(url, verbose=False), tmp/"pwned.pth"
    for extra, refused in [("+hydra.callbacks.x._target_=pathlib.Path.write_text "
                            f"'+hydra.callbacks.x._args_=[{{_target_:pathlib.Path,_args_:[\"{pwned}\"]}},\"import os\"]'", "no +, ++ or ~ prefixes"),
                           ("training.resume=${oc.env:PATH}", "training.resume: set by the app"),
                           ("model.weights=${oc.env:PATH}", "model.weights: interpolations"),
                           ("hydra.mode=MULTIRUN hparams_search=quickstart_optuna", "hydra.mode: Hydra's own settings"),
                           ("data.cache_dir=/tmp/elsewhere", "data.cache_dir: /tmp/elsewhere is outside")]:
        msg = client.predict("quickstart", *[v[k] for k in keys], extra, api_name="/launch")
        assert msg.startswith("**error**") and refused in msg and os.environ["PATH"] not in msg, (extra, msg)
    assert not pwned.exists() and not any((tmp/"runs").glob("*")), list((tmp/"runs").glob("*"))   # nothing written, nothing launched
