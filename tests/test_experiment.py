"""experiment: the shipped offline-tiny plan end to end, killed midway and resumed (compare gives
the same table), submitit's local executor running a cell, dry-run grids and estimates of the
shipped plans, plan validation errors naming file and key."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

import xadj.evaluate
import xadj.finetune
from xadj.analysis.compare import CompareConfig, compare
from xadj.experiment import (
    DONE_FILE,
    ExperimentConfig,
    PlanError,
    build_cells,
    load_plan,
    run_experiment,
)

TASKS = Path(__file__).resolve().parent / "data" / "tasks"


@pytest.fixture(autouse=True)
def task_data(monkeypatch):
    monkeypatch.setenv("XADJ_TASK_DATA", str(TASKS))
    logging.getLogger("transformers").setLevel(logging.ERROR)


def table(root: Path) -> list[dict]:
    result = compare(CompareConfig(inputs=[str(root)], plots=False, resamples=1000))
    return [row.as_dict() for row in result.rows]


class Killed(BaseException):
    """Stands for a kill: not an Exception, so nothing on the way catches it."""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("grid") / "a"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XADJ_TASK_DATA", str(TASKS))
        result = run_experiment(ExperimentConfig(plan="offline-tiny", output_dir=str(root),
                                                 executor="inline"), progress=False)
    assert not result.failed
    assert len(result.ran) == len(result.cells) == 15  # 1 align + 3 models x 2 tasks x 2 seeds
    return root, table(root)                            # + xsr for 2 encoders, one seed each


def test_tiny_plan_runs_end_to_end_in_the_compare_layout(uninterrupted):
    root, rows = uninterrupted
    for model in ("original", "adjusted", "continual"):
        for task in ("xnli", "ner"):
            for seed in (1, 2):
                cell = root / model / task / f"seed-{seed}"
                results = json.loads((cell / "eval" / "results.json").read_text())
                assert list(results["metrics"]) == ["es"] and results["config"]["seed"] == seed
                assert (cell / "eval" / "predictions" / "es.jsonl").is_file()
                recorded = json.loads((cell / "cell.json").read_text())
                assert recorded["finetune"]["seed"] == seed and "versions" in recorded
                assert (cell / DONE_FILE).is_file()
    # The continual model's fine-tuning mixed in the alignment terms; the others did not.
    logged = (root / "continual" / "xnli" / "seed-1" / "finetune" / "metrics.jsonl").read_text()
    assert '"align"' in logged
    assert '"align"' not in (root / "original" / "xnli" / "seed-1" / "finetune" /
                             "metrics.jsonl").read_text()
    # The adjusted model is the align recipe's output, run once.
    adjusted = json.loads((root / "adjusted" / "xnli" / "seed-1" / "cell.json").read_text())
    assert adjusted["finetune"]["model"] == str(root / "models" / "adjusted" / "run")
    assert (root / "models" / "adjusted" / "run" / "model" / "config.json").is_file()
    assert not (root / "continual" / "xsr").exists()  # xsr lists the encoders only
    assert {(r["task"], r["config"]) for r in rows} == {
        ("xnli", "es"), ("ner", "es"), ("xsr", "spa-eng")}
    experiment = json.loads((root / "experiment.json").read_text())
    assert experiment["baseline"] == "original" and experiment["seeds"] == [1, 2]


def test_killed_midway_and_resumed_gives_the_same_table(uninterrupted, tmp_path, monkeypatch):
    root_a, rows_a = uninterrupted
    root = tmp_path / "b"
    # The same plan without NER (to keep the test short): xnli and xsr as in the first run.
    config = ExperimentConfig(plan="offline-tiny", output_dir=str(root), executor="inline",
                              tasks=["xnli", "xsr"])
    real_finetune, real_evaluate = xadj.finetune.finetune, xadj.evaluate.evaluate
    calls = {"finetune": 0, "evaluate": 0}

    def counting_finetune(cfg, progress=True):
        calls["finetune"] += 1
        return real_finetune(cfg, progress)

    def evaluate_killed_at_fourth(cfg, progress=True):
        calls["evaluate"] += 1
        if calls["evaluate"] == 4:  # this cell's model is fine-tuned, its evaluation is not
            raise Killed
        return real_evaluate(cfg, progress)

    monkeypatch.setattr(xadj.finetune, "finetune", counting_finetune)
    monkeypatch.setattr(xadj.evaluate, "evaluate", evaluate_killed_at_fourth)
    with pytest.raises(Killed):
        run_experiment(config, progress=False)
    cells = build_cells(load_plan("offline-tiny"), root.resolve(), config)
    done = [c.id for c in cells if c.done]
    assert done == ["models/adjusted", "original/xnli/seed-1", "original/xnli/seed-2",
                    "adjusted/xnli/seed-1"]
    killed = next(c for c in cells if c.id == "adjusted/xnli/seed-2")
    assert (Path(killed.directory) / "finetune" / "model").is_dir()
    assert not (Path(killed.directory) / DONE_FILE).exists()

    monkeypatch.setattr(xadj.evaluate, "evaluate", real_evaluate)
    before = calls["finetune"]
    resumed = run_experiment(config, progress=False)
    assert resumed.skipped == done and not resumed.failed
    assert len(resumed.ran) == 9 - len(done)  # 1 align + 3 models x 2 seeds + 2 xsr
    # The killed cell kept its fine-tuned model: finetune found it finished and returned.
    assert calls["finetune"] - before == 3  # 2 continual cells left to fine-tune + the killed
    expected = [row for row in rows_a if row["task"] != "ner"]
    assert table(root) == expected != []
    again = run_experiment(config, progress=False)  # everything complete: nothing runs
    assert again.ran == [] and len(again.skipped) == 9


def test_submitit_local_executor_runs_the_same_cell(tmp_path):
    root = tmp_path / "local"
    result = run_experiment(ExperimentConfig(
        plan="offline-tiny", output_dir=str(root), executor="local", tasks=["xsr"],
        models=["original"], timeout_min=10), progress=False)
    assert result.ran == ["original/xsr/seed-1"] and not result.failed
    assert list((root / ".submitit").glob("*_log.out"))  # submitit's own job files
    results = json.loads((root / "original" / "xsr" / "seed-1" / "eval" /
                          "results.json").read_text())
    assert set(results["metrics"]["spa-eng"]) == {"xx2en_accuracy", "en2xx_accuracy", "n"}


def test_dry_run_lists_cells_and_estimates_without_running(tmp_path):
    result = run_experiment(ExperimentConfig(plan="efimov2023", output_dir=str(tmp_path / "e"),
                                             dry_run=True), progress=False)
    assert not (tmp_path / "e").exists()
    # original: 5 seeds x 3 tasks + 1 xsr; adjusted-L and continual-L: 4 languages x 5 seeds x
    # 3 tasks each; adjusted-L xsr: 4; align recipes: 4.
    assert len(result.cells) == 16 + 2 * 60 + 4 + 4 == 144
    lines = result.text.splitlines()
    adjusted_es_qa = next(line for line in lines if line.startswith("adjusted-es/qa/seed-1 "))
    assert adjusted_es_qa.split()[-4:] == ["xquad.es", "mlqa.es.es", "mlqa.es.en", "mlqa.en.es"]
    # steps from the hub sizes: XNLI 392,702 rows, batch 32, 2 epochs
    xnli = next(line for line in lines if line.startswith("original/xnli/seed-1 "))
    assert xnli.split()[2] == str(2 * -(-392_702 // 32))
    assert "base-gpu (assumed)" in result.text and "144 cells (4 align, 140 task)" in result.text
    continual = next(c for c in build_cells(load_plan("efimov2023"), tmp_path, ExperimentConfig(
        plan="efimov2023", output_dir=str(tmp_path))) if c.id == "continual-hi/ner/seed-3")
    assert continual.depends == ("models/adjusted-hi",)
    assert continual.finetune["continual"] == str(tmp_path / "models/adjusted-hi/run/data/hi")


def test_dry_run_counts_local_rows_and_marks_done_cells(uninterrupted):
    root, _ = uninterrupted
    text = run_experiment(ExperimentConfig(plan="offline-tiny", output_dir=str(root),
                                           dry_run=True), progress=False).text
    assert "15 cells (1 align, 14 task), 15 done, 0 to run" in text
    assert "original/xnli/seed-1                     done" in text
    fresh = run_experiment(ExperimentConfig(plan="offline-tiny", output_dir=str(root) + "-new",
                                            dry_run=True, seeds=[7]), progress=False).text
    # 16 of the fixture's 48 rows (max_train_samples), batch 8: 2 steps
    assert "original/xnli/seed-7                     todo          2" in fresh
    assert "tiny-cpu (measured)" in fresh


def write_plan(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return str(path)


GOOD = """
seeds = [1]
[models.original]
model = "tiny"
[tasks.xnli]
languages = ["es"]
data = "{data}"
"""


@pytest.mark.parametrize(("change", "key", "message"), [
    (("seeds = [1]", "seeds = [1, 1]"), "seeds", "distinct"),
    (("[tasks.xnli]", "[tasks.pos]"), "tasks.pos", "unknown task"),
    (('model = "tiny"', 'model = "tiny"\nfinetune = { seed = 3 }'), "models.original.finetune.seed",
     "set by the experiment runner"),
    (('model = "tiny"', 'model = "tiny"\nfinetune = { learning_rate = 3 }'),
     "models.original.finetune.learning_rate", "not a setting of FinetuneConfig"),
    (('model = "tiny"', 'align = { model = "tiny", epochs = 0 }'), "models.original.align",
     "epochs must be >= 1"),
    (('data = "{data}"', 'data = "${XADJ_NOT_SET_ANYWHERE}/xnli"'), "tasks.xnli.data",
     "is not set"),
    (('data = "{data}"', 'data = "./missing"'), "tasks.xnli.data", "no such directory"),
    (("seeds = [1]", 'seeds = [1]\nbaseline = "adjusted"'), "baseline", "not a model"),
    (('languages = ["es"]', 'languages = ["es"]\nevaluate = { batch_size = 0 }'),
     "tasks.xnli", "batch_size must be >= 1"),
])
def test_plan_errors_name_the_file_and_key(tmp_path, change, key, message):
    text = GOOD.replace(*change).replace("{data}", str(TASKS / "xnli"))
    path = write_plan(tmp_path, text)
    with pytest.raises(PlanError, match=f"^{path}:{key}: .*{message}"):
        load_plan(path)


def test_plan_syntax_and_missing_plan(tmp_path):
    path = write_plan(tmp_path, "seeds = [1\n")
    with pytest.raises(PlanError, match=f"^{path}: not valid TOML"):
        load_plan(path)
    with pytest.raises(FileNotFoundError, match="shipped plans: cao2020, efimov2023, offline-tiny"):
        load_plan("no-such-plan")
    good = write_plan(tmp_path, GOOD.replace("{data}", "./data"))
    (tmp_path / "data").mkdir()
    assert load_plan(good).tasks[0].data == str(tmp_path / "data")  # relative to the plan


def test_sigkill_at_a_random_point_then_resume(uninterrupted, tmp_path):
    """A real kill: the runner in a subprocess, SIGKILLed once its first cell is complete (the
    second is then somewhere in fine-tuning or evaluation); a resumed run completes the grid."""
    import signal
    import subprocess
    import sys
    import time

    _, rows_a = uninterrupted
    root = tmp_path / "killed"
    code = ("from xadj.experiment import ExperimentConfig, run_experiment\n"
            f"run_experiment(ExperimentConfig(plan='offline-tiny', output_dir={str(root)!r}, "
            "executor='inline', tasks=['xnli'], models=['original']), progress=False)\n")
    process = subprocess.Popen([sys.executable, "-c", code], env={
        **os.environ, "XADJ_TASK_DATA": str(TASKS)}, stderr=subprocess.DEVNULL)
    first = root / "original" / "xnli" / "seed-1" / DONE_FILE
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists()
    second = root / "original" / "xnli" / "seed-2"
    assert not (second / DONE_FILE).exists()
    config = ExperimentConfig(plan="offline-tiny", output_dir=str(root), executor="inline",
                              tasks=["xnli"], models=["original"])
    resumed = run_experiment(config, progress=False)  # the lock died with the process
    assert resumed.skipped == ["original/xnli/seed-1"]
    assert resumed.ran == ["original/xnli/seed-2"]
    expected = next(r for r in rows_a if r["task"] == "xnli")["models"]["original"]
    assert table(root)[0]["models"]["original"] == expected
    # A complete cell does not count for a plan that now gives it other settings.
    from xadj.experiment import PLANS_DIR

    text = (PLANS_DIR / "offline-tiny.toml").read_text().replace(
        "../sample/", str(PLANS_DIR.parent / "sample") + "/")
    changed = text.replace("max_train_samples = 16, batch_size = 8", "max_train_samples = 16, "
                           "batch_size = 4", 1)
    assert changed != text
    with pytest.raises(ValueError, match=r"seed-1/cell.json: cell original/xnli/seed-1 was run "
                       r"with other settings \(finetune.batch_size: 8 -> 4\)"):
        run_experiment(ExperimentConfig(plan=write_plan(tmp_path, changed), output_dir=str(root),
                                        executor="inline", tasks=["xnli"], models=["original"]),
                       progress=False)


def test_slurm_jobs_get_the_experiment_settings(tmp_path, monkeypatch):
    from xadj.experiment import slurm_executor

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit only checks that it exists
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    executor = slurm_executor(ExperimentConfig(
        plan="offline-tiny", output_dir=str(tmp_path / "x"), executor="slurm",
        slurm_partition="gpu", slurm_account="lab", parallel=4, timeout_min=90),
        tmp_path / "jobs")
    assert executor.cluster == "slurm"
    assert {k: executor._executor.parameters[k] for k in (
        "partition", "account", "array_parallelism", "time", "gpus_per_node", "cpus_per_task")} \
        == {"partition": "gpu", "account": "lab", "array_parallelism": 4, "time": 90,
            "gpus_per_node": 1, "cpus_per_task": 8}
