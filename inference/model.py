"""The hemorrhage classifier: a compact 2D residual CNN with six sigmoid outputs (`LABELS` order).

Design (own code, no MONAI: nothing here needs it, and it keeps the frozen app small):

* stem: two 3x3 convolutions, the first with stride 2;
* residual stages of basic blocks (3x3-3x3, BatchNorm, ReLU); stages may downsample (stride 2) or
  keep the resolution with dilated convolutions instead, so the last feature map stays at 1/8 of
  the input (24 x 24 cells of 10 mm on the default 192 px / 1.25 mm grid): Grad-CAM from it can
  point at a bleed a few millimetres wide, where a 1/32 map would paint whole lobes;
* head: global average + max pooling -> dropout -> linear(6). The max branch lets a small bleed
  drive the logit without being diluted by the brain around it.

`model.features(x)` returns the last conv feature map (the Grad-CAM layer, also `model.cam_layer`)
and `model.head(features)` the logits, so Grad-CAM needs no hooks. No sequence head across slices:
each slice is classified from its own 2.5D input, which keeps Grad-CAM strictly per slice.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from inference.labels import LABELS

__all__ = ["ArchConfig", "IchNet", "build_model", "count_parameters"]


@dataclass(frozen=True)
class ArchConfig:
    """Architecture hyper-parameters; stored in the weights metadata."""

    name: str = "ichnet"
    in_channels: int = 9
    n_outputs: int = len(LABELS)
    stem_channels: int = 32
    widths: tuple[int, ...] = (48, 80, 128, 192)
    blocks: tuple[int, ...] = (1, 2, 2, 1)
    strides: tuple[int, ...] = (2, 2, 1, 1)  # after the stride-2 stem: 1/4, 1/8, 1/8, 1/8
    dilations: tuple[int, ...] = (1, 1, 2, 4)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if not (len(self.widths) == len(self.blocks) == len(self.strides) == len(self.dilations)):
            raise ValueError("widths, blocks, strides and dilations need one entry per stage")

    @property
    def output_stride(self) -> int:
        s = 2
        for st in self.strides:
            s *= st
        return s

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchConfig:
        """Inverse of `to_dict`; unknown keys are an error."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ArchConfig fields: {sorted(unknown)}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """3x3 -> 3x3 residual block with optional stride / dilation and a 1x1 projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class IchNet(nn.Module):
    """Compact residual CNN: (N, C, H, W) in [0, 1] -> (N, 6) logits."""

    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = nn.Sequential(
            _conv_bn_relu(config.in_channels, config.stem_channels, stride=2),
            _conv_bn_relu(config.stem_channels, config.stem_channels),
        )
        stages = []
        c = config.stem_channels
        for width, n_blocks, stride, dilation in zip(config.widths, config.blocks, config.strides, config.dilations):
            blocks = [BasicBlock(c, width, stride=stride, dilation=1 if stride > 1 else dilation)]
            blocks += [BasicBlock(width, width, dilation=dilation) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c = width
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(2 * c, config.n_outputs)
        self._init_weights()

    @property
    def cam_layer(self) -> nn.Module:
        """The last conv block: its output is the Grad-CAM feature map."""
        return self.stages[-1]

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero-init the last BN of each residual branch: blocks start as identities (stable training).
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
        nn.init.normal_(self.fc.weight, std=0.01)
        # Start from a low prior probability (hemorrhage is the minority class on slices).
        nn.init.constant_(self.fc.bias, -2.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last conv feature map (N, C', H/8, W/8): the Grad-CAM layer."""
        return self.stages(self.stem(x))

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits (N, 6) from the feature map."""
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)
        return self.fc(self.dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(arch_config: ArchConfig | dict[str, Any] | None = None) -> IchNet:
    """Build the network (random weights) from its config (or its dict form; None = defaults)."""
    if arch_config is None:
        arch_config = ArchConfig()
    elif isinstance(arch_config, dict):
        arch_config = ArchConfig.from_dict(arch_config)
    if arch_config.name != "ichnet":
        raise ValueError(f"unknown architecture {arch_config.name!r} (this ichview knows 'ichnet')")
    return IchNet(arch_config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
