"""A small ResNet (He et al. 2016): the convolutional baseline the ViT is compared with.

    image (B, 3, H, W)
      → stem: 3×3 conv, stride `stem_stride`     (B, w0, H/s, W/s)
      → 4 stages of BasicBlocks; stages 2-4 halve the resolution and widen the channels
      → global average pool                      (B, w3)
      → fc                                       logits (B, num_classes)

The inductive biases a ViT lacks are all here: locality (3×3 kernels), translation equivariance
(weights shared over positions) and a hierarchy of growing receptive fields. Key names follow
torchvision's ResNet (`conv1`, `bn1`, `layer1.0.conv1`, `downsample`, `fc`).
"""

from dataclasses import dataclass, replace

from torch import nn

from course_lib.attention import NonLocalBlock


@dataclass
class ResNetConfig:
    num_classes: int = 1000  # 0 = no head: forward returns the pooled feature
    in_chans: int = 3
    widths: tuple = (32, 64, 128, 256)
    depths: tuple = (2, 2, 2, 2)  # BasicBlocks per stage
    stem_stride: int = 2  # 2: a 3×3 conv, stride 2; 4: a 4×4 "patchify" conv, stride 4 (as ConvNeXt)
    nonlocal_stages: tuple = ()  # stages (0-based) that end with a NonLocalBlock (Wang et al. 2018)


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual: x + F(x), with a 1×1 projection when the shape changes."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)  # (B, c_out, H/s, W/s)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, c_out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, config: ResNetConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or ResNetConfig(), **overrides)
        if len(cfg.widths) != len(cfg.depths):
            raise ValueError(f"widths {cfg.widths} and depths {cfg.depths} must have one entry per stage.")
        self.config = cfg
        w0 = cfg.widths[0]
        k = 3 if cfg.stem_stride <= 2 else cfg.stem_stride  # kernel that covers every pixel once or more
        self.conv1 = nn.Conv2d(cfg.in_chans, w0, k, cfg.stem_stride, 1 if k == 3 else 0, bias=False)
        self.bn1 = nn.BatchNorm2d(w0)
        self.relu = nn.ReLU(inplace=True)
        c_in = w0
        for i, (width, depth) in enumerate(zip(cfg.widths, cfg.depths)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(c_in if j == 0 else width, width, stride if j == 0 else 1)
                      for j in range(depth)]
            if i in cfg.nonlocal_stages:  # appended last: the keys of the other blocks do not move
                blocks.append(NonLocalBlock(width))
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            c_in = width
        self.num_features = c_in
        self.fc = nn.Linear(c_in, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self):
        """He initialization for convs; the last BN of each block starts at 0 (block = identity)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
        for m in self.modules():  # after the convs' He init: a non-local block starts as the identity
            if isinstance(m, NonLocalBlock):
                nn.init.zeros_(m.w_z.weight)
                nn.init.zeros_(m.w_z.bias)

    @property
    def stages(self):
        return [getattr(self, f"layer{i + 1}") for i in range(len(self.config.widths))]

    def forward_maps(self, x):
        """(B, C, H, W) → the last stage's feature map (B, w_last, H / (s·2^(stages-1)), ...)."""
        x = self.relu(self.bn1(self.conv1(x)))  # (B, w0, H/s, W/s)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_features(self, x):
        """(B, C, H, W) → pooled feature (B, w_last)."""
        return self.forward_maps(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.forward_features(x))

    def get_nonlocal_attention(self, x):
        """Attention over positions of every NonLocalBlock: a list of (B, h·w, h·w) maps."""
        maps = []
        x = self.relu(self.bn1(self.conv1(x)))  # (B, w0, H/s, W/s)
        for stage in self.stages:
            for block in stage:
                if isinstance(block, NonLocalBlock):
                    x, attn = block(x, return_attention=True)
                    maps.append(attn)
                else:
                    x = block(x)
        return maps


def resnet_tiny(**overrides):
    """0.3M parameters: widths 16-128, one block per stage."""
    return ResNet(ResNetConfig(widths=(16, 32, 64, 128), depths=(1, 1, 1, 1), **overrides))


def resnet_small(**overrides):
    """2.8M parameters: ResNet-18's layout at half its width, for 64 px images."""
    return ResNet(ResNetConfig(**overrides))


def resnet18(**overrides):
    """torchvision's ResNet-18 layout with a 3×3 stem: 11,681,832 parameters with 1000 classes."""
    return ResNet(ResNetConfig(widths=(64, 128, 256, 512), **overrides))


def resnet_nonlocal(**overrides):
    """`resnet_small` with a non-local block ending stage 3 (the paper adds them to res3/res4)."""
    return ResNet(ResNetConfig(**{"nonlocal_stages": (2,), **overrides}))
