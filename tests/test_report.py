"""End to end: two short real runs -> report (checked in headless Chromium), compare, features evaluate."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from alignrec.cli import main
from alignrec.config import TrainConfig
from alignrec.data import load_dataset
from alignrec.reporting.collect import collect
from alignrec.runs import RunConfig, train
from tests.conftest import RealData

INSTALL_CHROMIUM = "sudo apt-get install -y chromium"

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var tag = e.target && e.target.tagName ? ' ' + e.target.tagName : '';
  window.__errors.push('error' + tag + ': ' + (e.message || ''));
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push('console.error: ' + Array.from(arguments).join(' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var out = {errors: window.__errors, images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
      .map(function (i) { return i.alt; }),
    external: performance.getEntriesByType('resource').map(function (r) { return r.name; })
      .filter(function (n) { return n.indexOf('data:') !== 0; })};
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, real_data: RealData) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    data = real_data.config(cache_dir=str(root / "cache"))
    out = {}
    for model in ("lightgcn", "alignrec"):
        config = RunConfig(data=data, model=model, train=TrainConfig(epochs=3))
        train(config, run_dir=root / model)
        out[model] = root / model
    return out


def chromium_probe(html_file: Path, tmp: Path) -> tuple[dict, str]:
    """Load ``html_file`` with an injected probe; return the probe's JSON and Chromium's stderr."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip(f"chromium is not installed; install it with: {INSTALL_CHROMIUM}")
    probed = tmp / "probed.html"
    probed.write_text(html_file.read_text().replace("<head>", "<head>" + PROBE, 1))
    profile = tmp / "chromium-profile"
    profile.mkdir()
    proc = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the page did not finish loading; stderr: {proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")), proc.stderr


def test_report_is_self_contained_and_renders(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(runs["lightgcn"]), str(runs["alignrec"]), "-o", str(out), "--bootstrap", "500"]) == 0
    page = out.read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) >= 6 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "@import" not in page
    for section in ("Dataset", "Test results", "Paired comparisons", "Learning curves", "Beyond accuracy",
                    "By user activity", "By popularity of the test item", "Item embeddings", "Configuration"):
        assert section in page
    summary = (tmp_path / "report.md").read_text()
    assert "| alignrec vs lightgcn: recall@20 |" in summary
    result, stderr = chromium_probe(out, tmp_path)
    assert result["errors"] == []
    assert result["images"] == len(sources) and result["broken"] == []
    assert result["external"] == []
    assert not [line for line in stderr.splitlines() if "CONSOLE" in line]


def test_compare_cli(runs: dict[str, Path], real_data: RealData, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(runs["lightgcn"]), str(runs["alignrec"]), "--json", "--bootstrap", "500"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "recall@20" and out["users"] > 0.9 * real_data.facts["users"]
    assert out["ci_low"] <= out["mean_diff"] <= out["ci_high"]
    assert 0.0 <= out["t_pvalue"] <= 1.0 and 0.0 <= out["wilcoxon_pvalue"] <= 1.0


def test_features_evaluate_with_masked_run(runs: dict[str, Path], real_data: RealData, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["features", "evaluate", *real_data.cli_args(), "--run", str(runs["alignrec"]), "--cache-dir",
            str(tmp_path), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(r["input"], r["method"]): r for r in out["rows"]}
    modalities = sorted(real_data.facts["features"])
    assert {(m, method) for m in modalities for method in ("zero-shot", "item-CF")} <= set(rows)
    if len(modalities) > 1:
        assert (f"concat({'+'.join(modalities)})", "zero-shot") in rows
    run_row = rows[("run alignrec", "trained alignrec")]
    assert set(run_row["masked"]) == set(modalities)
    assert run_row["masked"]["text"]["recall@20"] != run_row["full"]["recall@20"]
    features = load_dataset(real_data.config()).features
    assert out["masked_items"] == {m: round(0.5 * int((abs(features[m]).sum(1) > 0).sum())) for m in modalities}


def test_runs_in_same_named_folders_are_named_by_model(runs: dict[str, Path], tmp_path: Path) -> None:
    for model, path in runs.items():  # the pipeline's layout: .../run and .../baselines/<model>/run
        (tmp_path / model).mkdir()
        (tmp_path / model / "run").symlink_to(path, target_is_directory=True)
    data = collect([tmp_path / "lightgcn" / "run", tmp_path / "alignrec" / "run"], n_boot=100)
    assert [r.name for r in data.runs] == ["lightgcn (run)", "alignrec (run)"]
