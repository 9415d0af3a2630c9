"""The small ResNet baseline: shapes, parameter counts, the stem options."""

import pytest
import torch

from course_lib.cnn import ResNet, ResNetConfig, resnet18, resnet_small, resnet_tiny


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("factory", [resnet_tiny, resnet_small])
@pytest.mark.parametrize("stem", [2, 4])
def test_shapes(factory, stem):
    model = factory(num_classes=6, stem_stride=stem)
    x = torch.randn(2, 3, 64, 64)
    assert model(x).shape == (2, 6)
    assert model.forward_features(x).shape == (2, model.num_features)
    assert model.forward_maps(x).shape[-1] == 64 // stem // 8


def test_resnet18_matches_torchvision_but_for_the_stem():
    # torchvision's ResNet-18 has 11,689,512 parameters; its 7×7 stem has 64·3·49 weights, ours 64·3·9
    assert n_params(resnet18()) == 11_689_512 - 64 * 3 * (49 - 9)


def test_headless_model_returns_features_and_keys_follow_torchvision():
    model = ResNet(ResNetConfig(num_classes=0, widths=(8, 16), depths=(1, 2)))
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 16)
    keys = set(model.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer2.1.bn2.weight"} <= keys


def test_blocks_start_as_identity():
    model = resnet_tiny(num_classes=3).eval()
    block = model.layer1[0]
    x = torch.rand(1, 16, 8, 8)
    assert torch.allclose(block(x), x)  # zero-initialized last BN: x + 0, then ReLU of x >= 0


def test_bad_config_is_one_sentence():
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNet(ResNetConfig(widths=(8, 16), depths=(1,)))
