import json

import pytest
import torch
from torch import nn

from course_lib import checkpoints as ck


def tiny_card(name="toy"):
    return {
        "name": name,
        "model": {"factory": "torch.nn:Linear", "kwargs": {"in_features": 4, "out_features": 3}},
        "input": {"img_size": 0, "mean": [], "std": []},
        "recipe": "none",
        "command": "none",
        "seed": 0,
    }


def saved(tmp_path, name="toy"):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    info = ck.save_checkpoint(model, tiny_card(name), directory=tmp_path)
    return model, info


def test_save_and_load_roundtrip(tmp_path):
    model, info = saved(tmp_path)
    assert (tmp_path / "toy.safetensors").exists() and (tmp_path / "toy.json").exists()
    assert info["sha256"] == ck.sha256_file(tmp_path / "toy.safetensors")
    assert ck.card("toy", tmp_path) == info
    loaded = ck.load_pretrained("toy", directory=tmp_path)
    assert not loaded.training
    assert torch.equal(loaded.weight, model.weight)
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"


def test_corrupted_file_is_one_sentence(tmp_path):
    saved(tmp_path)
    path = tmp_path / "toy.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ck.CheckpointError, match="corrupted"):
        ck.load_pretrained("toy", directory=tmp_path)


def test_unreadable_file_without_sha(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ck.CheckpointError, match="not a readable safetensors"):
        ck.load_tensors(tmp_path / "bad.safetensors")


def test_missing_checkpoint_names_choices(tmp_path):
    saved(tmp_path)
    with pytest.raises(ck.CheckpointError, match="No bundled checkpoint named 'nope'"):
        ck.card("nope", tmp_path)
    with pytest.raises(ck.CheckpointError, match="does not exist"):
        ck.load_tensors(tmp_path / "nope.safetensors")


def test_strict_load_names_bad_keys():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    state = dict(model.state_dict())
    state.pop("1.bias")
    state["extra.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(5, 4)
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_state_dict_strict(model, state)
    message = str(err.value)
    assert "missing keys [1.bias]" in message
    assert "unexpected keys [extra.weight]" in message
    assert "0.weight (5, 4) vs (3, 4)" in message
    assert message.count(".") >= 1 and "\n" not in message


def test_failed_write_leaves_nothing(tmp_path):
    def broken(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ck.atomic_write(tmp_path / "x.json", broken)
    assert list(tmp_path.iterdir()) == []


def test_official_table_and_listing(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "CHECKPOINT_DIR", tmp_path)
    saved(tmp_path)
    assert ck.list_pretrained("bundled") == ["toy"]
    assert set(ck.list_pretrained("official")) >= {"dino_vits16", "mae_vit_base", "clip_vit_b32", "swin_tiny"}
    assert all(":" in spec for spec in ck.OFFICIAL.values())


def test_download_offline_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, dst, progress=False):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ck.CheckpointError, match="Could not download .* copy it to"):
        ck.download("https://example.invalid/w.pth")


def test_download_checks_sha(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fake = lambda url, dst, progress=False: open(dst, "w").write("x")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake)
    path = ck.download("https://example.invalid/w.pth", sha256="2d711642")  # sha256("x") prefix
    assert path.exists()
    with pytest.raises(ck.CheckpointError, match="does not match"):
        ck.download("https://example.invalid/w.pth", sha256="0000")


def test_bundled_cards_are_complete():
    for name in ck.list_pretrained("bundled"):
        info = ck.card(name)
        for key in ("model", "input", "recipe", "command", "seed", "training", "metrics", "sha256"):
            assert key in info, f"{name}.json lacks {key}"
        assert json.dumps(info)


def test_official_entries_resolve_where_their_module_exists():
    import importlib

    for name, spec in ck.OFFICIAL.items():
        module, _, function = spec.partition(":")
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError:
            continue  # that method is not written yet
        assert callable(getattr(loaded, function, None)), f"OFFICIAL[{name!r}] = {spec!r} does not exist"


@pytest.mark.parametrize("name", ["supervised-resnet-shapes", "supervised-vit-shapes"])
def test_bundled_baselines_reach_90_percent(name):
    if name not in ck.list_pretrained("bundled"):
        pytest.skip(f"{name} is not bundled (train it with the command in the README)")
    from course_lib.data.rendered import normalize, render_shapes

    info = ck.card(name)
    assert info["metrics"]["test_accuracy"] >= 0.9
    model = ck.load_pretrained(name)
    test = render_shapes(300, split="test")  # the first 300 of the 2,000 test images in the card
    with torch.no_grad():
        logits = [model(normalize(test.images[i:i + 100])) for i in range(0, 300, 100)]  # 3 × (100, 6)
    predictions = torch.cat(logits).argmax(1)
    assert (predictions == test.labels).float().mean() >= 0.88
