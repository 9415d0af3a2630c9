"""The training engine: recipes, seeding, metrics, atomic checkpoints, resume, errors, DDP."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from course_lib import checkpoints as ck
from course_lib.train import TrainError, available_recipes, fit, get_recipe
from course_lib.train.bundle import command_line
from course_lib.train.cli import main, parse
from course_lib.train.engine import learning_rate
from course_lib.train.state import latest_checkpoint, list_checkpoints

REPO = Path(__file__).resolve().parents[1]
# A ViT small enough that a step takes milliseconds (16 px images, 4 patches, one block).
TINY = dict(train_size=64, val_size=32, img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2,
            batch_size=16, steps=12, save_every=4, log_every=1, warmup_epochs=0.5, drop_path_rate=0.0,
            progress=False, threads=1)


def flags(options):
    words = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            words += [flag, str(value)]
    return words


def weights(run_dir):
    return load_file(Path(run_dir) / "final.safetensors")


def assert_same_weights(a, b, atol=0.0):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol, rtol=0), f"{k} differs by {(a[k] - b[k]).abs().max()}"


def run_cli(args, timeout=120, **popen):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "course_lib.train", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


# -- recipes and options -------------------------------------------------------------------------
def test_supervised_recipes_are_registered():
    assert {"supervised-vit", "supervised-resnet"} <= set(available_recipes())


def test_unknown_recipe_is_one_sentence(capsys):
    assert main(["supervised-vitt"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Unknown recipe 'supervised-vitt' (did you mean 'supervised-vit'?)")
    assert "\n" not in err


def test_unknown_option_is_one_sentence(capsys):
    assert main(["supervised-vit", "--lrr", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Unknown option --lrr" in err and "did you mean --lr?" in err and "\n" not in err
    with pytest.raises(TrainError, match="Unknown option --lrr"):
        get_recipe("supervised-vit").make_config(lrr=3)


def test_missing_dataset_is_one_sentence(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_DATA", str(tmp_path))
    assert main(["supervised-resnet", "--data", "cifar10", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "CIFAR-10 was not found" in err and "\n" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_command_line_round_trip():
    recipe = get_recipe("supervised-vit")
    cfg = recipe.make_config(**{**TINY, "bundle": "x"})
    words = command_line("supervised-vit", cfg).split()
    assert words[:4] == ["python", "-m", "course_lib.train", "supervised-vit"]
    again = parse(recipe, words[4:])
    run_only = {"threads", "progress", "save_every", "log_every"}
    assert {k: v for k, v in vars(again).items() if k not in run_only} == \
           {k: v for k, v in vars(cfg).items() if k not in run_only}


def test_learning_rate_schedule():
    cfg = get_recipe("supervised-vit").make_config(lr=1.0, min_lr=0.1, warmup_epochs=2)
    lrs = [learning_rate(cfg, s, total_steps=100, steps_per_epoch=10) for s in range(100)]
    assert lrs[0] == pytest.approx(1 / 20) and lrs[19] == pytest.approx(1.0)  # linear warmup
    assert lrs[20] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1, abs=1e-3)  # cosine
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:]))


# -- a run: metrics, checkpoints, card ----------------------------------------------------------
def test_run_writes_metrics_checkpoints_and_card(tmp_path):
    out = fit("supervised-vit", **TINY, out=str(tmp_path))
    assert out["finished"] and out["step"] == 12
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 13))
    assert all("images_per_s" in r for r in rows if "loss" in r)
    assert any("test_accuracy" in r for r in rows)
    assert (tmp_path / "metrics.png").exists()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-0000008", "step-0000012"]  # keeps 2
    card = ck.card("final", tmp_path)
    assert card["recipe"] == "supervised-vit" and card["command"].startswith("python -m course_lib.train")
    assert card["metrics"]["test_accuracy"] == out["metrics"]["test_accuracy"]
    model = ck.load_pretrained("final", directory=tmp_path)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 6)


def test_same_seed_same_metrics(tmp_path):
    a = fit("supervised-vit", **TINY, out=str(tmp_path / "a"))
    b = fit("supervised-vit", **TINY, out=str(tmp_path / "b"))
    fit("supervised-vit", **{**TINY, "seed": 1}, out=str(tmp_path / "c"))
    assert a["metrics"] == b["metrics"]
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not torch.equal(weights(tmp_path / "a")["head.weight"], weights(tmp_path / "c")["head.weight"])


def test_training_in_pieces_gives_the_same_weights(tmp_path):
    fit("supervised-vit", **TINY, out=str(tmp_path / "whole"))
    piece = {**TINY, "out": str(tmp_path / "pieces"), "stop_after": 5}
    first = fit("supervised-vit", **piece)
    assert not first["finished"] and first["step"] == 5
    fit("supervised-vit", **piece, resume=True)
    last = fit("supervised-vit", **piece, resume=True)
    assert last["finished"]
    assert_same_weights(weights(tmp_path / "whole"), weights(tmp_path / "pieces"))


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    options = {**TINY, "steps": 200, "save_every": 2, "log_every": 50}
    fit("supervised-vit", **options, out=str(tmp_path / "whole"))
    killed = tmp_path / "killed"
    proc = run_cli(["supervised-vit", *flags(options), "--out", str(killed)])
    deadline = time.time() + 90
    while not (killed / "checkpoints" / "step-0000010").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stopped_at = int(latest_checkpoint(killed).name.split("-")[1])
    assert 10 <= stopped_at < 200, "the run must be killed midway"
    assert not (killed / "final.safetensors").exists()
    resumed = run_cli(["supervised-vit", *flags(options), "--out", str(killed), "--resume"])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert_same_weights(weights(tmp_path / "whole"), weights(killed))
    assert not list((killed / "checkpoints").glob(".tmp-*")), "no partial checkpoint left"


# -- bad input -----------------------------------------------------------------------------------
def test_refuses_to_overwrite_a_run(tmp_path):
    fit("supervised-vit", **{**TINY, "steps": 4}, out=str(tmp_path))
    with pytest.raises(TrainError, match="already holds checkpoints: pass --resume"):
        fit("supervised-vit", **{**TINY, "steps": 4}, out=str(tmp_path))


def test_resume_from_another_config_is_one_sentence(tmp_path):
    fit("supervised-vit", **{**TINY, "stop_after": 4}, out=str(tmp_path))
    with pytest.raises(TrainError, match="was trained with --lr 0.001, not 0.002"):
        fit("supervised-vit", **{**TINY, "lr": 2e-3}, out=str(tmp_path), resume=True)
    with pytest.raises(TrainError, match="belongs to recipe 'supervised-vit', not 'supervised-resnet'"):
        fit("supervised-resnet", train_size=64, val_size=32, img_size=16, batch_size=16, steps=4,
            progress=False, out=str(tmp_path), resume=True)


def test_corrupted_checkpoint_is_one_sentence(tmp_path):
    fit("supervised-vit", **{**TINY, "stop_after": 4}, out=str(tmp_path))
    weights_file = latest_checkpoint(tmp_path) / "model.safetensors"
    data = bytearray(weights_file.read_bytes())
    data[-3] ^= 0xFF
    weights_file.write_bytes(bytes(data))
    with pytest.raises(ck.CheckpointError, match="corrupted .*delete that directory"):
        fit("supervised-vit", **TINY, out=str(tmp_path), resume=True)


def test_partial_checkpoint_is_ignored_and_removed(tmp_path):
    fit("supervised-vit", **{**TINY, "stop_after": 4}, out=str(tmp_path))
    partial = tmp_path / "checkpoints" / ".tmp-step-0000008-abc"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(tmp_path).name == "step-0000004"
    assert fit("supervised-vit", **TINY, out=str(tmp_path), resume=True)["finished"]
    assert not partial.exists()


def test_all_bundled_reruns_the_card_command(tmp_path, monkeypatch):
    fit("supervised-vit", **{**TINY, "steps": 4, "bundle": ""}, out=str(tmp_path / "src"))
    card = ck.card("final", tmp_path / "src")
    monkeypatch.setattr(ck, "CHECKPOINT_DIR", tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    import course_lib.train.cli as cli

    monkeypatch.setattr(cli, "list_pretrained", lambda kind: ["final"])
    monkeypatch.setattr(cli, "card", lambda name: card)
    assert main(["--all-bundled", "--no-progress"]) == 0
    assert_same_weights(weights(tmp_path / "src"), weights(tmp_path / "runs" / "bundled" / "final"))


def test_a_stopped_step_bundles_with_the_command_that_trains_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "CHECKPOINT_DIR", tmp_path / "bundled")
    (tmp_path / "bundled").mkdir()
    stopped = fit("supervised-vit", **{**TINY, "stop_after": 8, "eval_every": 4}, out=str(tmp_path / "a"))
    assert main(["--bundle-checkpoint", str(latest_checkpoint(tmp_path / "a")), "early"]) == 0
    card = ck.card("early", tmp_path / "bundled")
    assert card["command"].endswith("--stop-after 8") and card["training"]["steps"] == 8
    assert card["metrics"] == stopped["metrics"]  # the evaluation at step 8
    # the card's command, run again, trains exactly the bundled weights
    words = card["command"].split()[3:] + ["--out", str(tmp_path / "b"), "--no-progress", "--threads", "1"]
    assert main(words) == 0
    assert main(["--bundle-checkpoint", str(latest_checkpoint(tmp_path / "b")), "again"]) == 0
    assert_same_weights(load_file(tmp_path / "bundled" / "early.safetensors"),
                        load_file(tmp_path / "bundled" / "again.safetensors"))
    model = ck.load_pretrained("early", directory=tmp_path / "bundled")
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 6)


def test_a_finished_run_bundles_afterwards_with_its_card(tmp_path, monkeypatch):
    from course_lib.train.bundle import bundle_final

    monkeypatch.setattr(ck, "CHECKPOINT_DIR", tmp_path / "bundled")
    (tmp_path / "bundled").mkdir()
    fit("supervised-vit", **TINY, out=str(tmp_path / "run"))
    card = bundle_final(tmp_path / "run", "later", note="chosen afterwards")
    assert card["command"].endswith("--bundle later") and card["note"] == "chosen afterwards"
    assert card["metrics"] == ck.card("final", tmp_path / "run")["metrics"]
    assert_same_weights(weights(tmp_path / "run"), load_file(tmp_path / "bundled" / "later.safetensors"))
    model = ck.load_pretrained("later", directory=tmp_path / "bundled")
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 6)


def test_bundling_a_corrupted_step_is_one_sentence(tmp_path, capsys):
    fit("supervised-vit", **{**TINY, "stop_after": 4}, out=str(tmp_path))
    weights_file = latest_checkpoint(tmp_path) / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:-5])
    assert main(["--bundle-checkpoint", str(latest_checkpoint(tmp_path)), "x"]) == 2
    assert "missing or corrupted" in capsys.readouterr().err


# -- distributed ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_match_one_process_at_the_same_global_batch(tmp_path):
    """DDP with gloo on 2 CPU processes vs 1 process, global batch 16: weights agree to 1e-5.

    Each process draws its augmentations from the global batch's stream, and DDP averages the
    gradients of the two halves: the same update as one process, up to float rounding.
    """
    options = {**TINY, "steps": 8, "save_every": 100}
    fit("supervised-vit", **options, out=str(tmp_path / "one"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "course_lib.train", "supervised-vit", *flags(options), "--device", "cpu",
           "--out", str(tmp_path / "two")]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    card = ck.card("final", tmp_path / "two")
    assert card["training"]["processes"] == 2
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"), atol=1e-5)
