"""The label-efficiency experiment (issue 15): its labelled draws, its fine-tuning loop, one tiny run."""

import json

import pytest
import torch

from course_lib.data.rendered import render_shapes
from course_lib.experiments import ExperimentError
from course_lib.experiments.label_efficiency import ARMS, NUM_CLASSES, held_out_images, labelled_draws, main
from course_lib.train.finetune import (
    FinetuneConfig,
    accuracy,
    budget_steps,
    classifier_from_encoder,
    finetune,
    layer_decay_optimizer,
)
from course_lib.vit import vit_tiny


def test_labelled_draws_are_balanced_nested_distinct_and_disjoint_from_the_test_images():
    pool = render_shapes(240, 64, 0, "train")
    sets = labelled_draws(pool.labels, [2, 5], draws=2, seed=0)
    for draw in sets.values():
        for count, idx in draw.items():
            assert len(set(idx.tolist())) == NUM_CLASSES * count  # no image twice
            assert pool.labels[idx].bincount(minlength=NUM_CLASSES).tolist() == [count] * NUM_CLASSES
        assert set(draw[2].tolist()) <= set(draw[5].tolist())  # nested within a draw
    assert set(sets[0][5].tolist()) != set(sets[1][5].tolist())  # another seed, another set
    test = held_out_images(60, start=0)
    labelled = {bytes(img.numpy()) for img in pool.images[sets[0][5]]}
    assert not labelled & {bytes(img.numpy()) for img in test.images}  # never a test image
    with pytest.raises(ExperimentError, match="raise --pool"):
        labelled_draws(pool.labels, [200], draws=1)


def test_budget_is_clamped_between_the_minimum_and_maximum_steps():
    assert budget_steps(30, 64, epochs=15, min_steps=300, max_steps=1500) == 300
    assert budget_steps(3000, 64, epochs=15, min_steps=300, max_steps=1500) == 703
    assert budget_steps(15000, 64, epochs=15, min_steps=300, max_steps=1500) == 1500


def test_classifier_from_encoder_keeps_every_encoder_weight_and_adds_a_head():
    encoder = vit_tiny(patch_size=8, img_size=32, depth=2, num_classes=0)
    model = classifier_from_encoder(encoder, num_classes=6, drop_path_rate=0.1)
    assert model.head.out_features == 6 and model.config.drop_path_rate == 0.1
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_layer_decay_scales_lower_layers_down_and_finetune_trains():
    model = vit_tiny(patch_size=8, img_size=32, depth=2, num_classes=3)
    scales = sorted({g["lr_scale"] for g in layer_decay_optimizer(model, FinetuneConfig(layer_decay=0.5))
                     .param_groups})
    assert scales == [0.125, 0.25, 0.5, 1.0]  # embeddings, block 0, block 1, norm + head
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(12) % 3
    model, loss = finetune(model, images, labels, FinetuneConfig(steps=3, batch_size=8, translate=2))
    assert not model.training and loss == loss  # finite, eval mode after
    assert 0.0 <= accuracy(model, images, labels) <= 1.0


def test_a_tiny_run_writes_every_arm_and_the_figure(tmp_path):
    out = tmp_path / "label_efficiency"
    main(["--counts", "5", "--draws", "1", "--min-steps", "2", "--max-steps", "2", "--batch-size", "16",
          "--n-test", "24", "--test-start", "0", "--out", str(out)])
    results = json.loads(out.with_suffix(".json").read_text())
    assert set(results["arms"]) == set(ARMS)
    assert results["command"].startswith("python -m course_lib.experiments label-efficiency")
    assert results["machine"] and results["seconds"] > 0
    for arm, entry in results["arms"].items():
        counts = ["0"] if arm == "clip_zero_shot" else ["5"]
        assert list(entry["by_count"]) == counts, arm
        assert all(0.0 <= a <= 1.0 for a in entry["by_count"][counts[0]]["accuracies"]), arm
    assert out.with_suffix(".png").stat().st_size > 0
