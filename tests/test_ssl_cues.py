"""The cue diagnosis of issue 15: every bundled encoder is asked the same questions."""

from course_lib.experiments.ssl_cues import attributes, cue_table

ATTRIBUTES = {"shape", "color", "pattern", "size_word", "n_objects", "second_shape"}


def test_attributes_are_labels_of_the_main_and_second_object():
    images, labels = attributes(12, "test", start=3)
    assert images.shape == (12, 3, 64, 64) and set(labels) == ATTRIBUTES
    assert all(len(y) == 12 and y.min() >= 0 for y in labels.values())
    assert labels["n_objects"].min() >= 1


def test_cue_table_scores_every_encoder_on_every_attribute():
    table = cue_table(n_test=24, n_train=48, start=500)
    assert "random-init-vit" in table and "_majority" in table
    for encoder, scores in table.items():
        assert set(scores) == ATTRIBUTES, encoder
        assert all(0.0 <= v <= 1.0 for v in scores.values()), encoder
