"""The BLAST-CT network (a DeepMedic-style 3D CNN) in plain torch, for inference on big tiles.

Same parameters, names and arithmetic as `blast_ct.models.deepmedic.DeepMedic` (blast-ct 2.1.0,
config `{"DeepMedic": {"feature_maps": [30, 30, 40, 40, 40, 40, 50, 50], "fully_connected":
[250, 250]}}`), so the shipped state dicts load with `strict=True`; written here so that the
product does not depend on the blast-ct package. Three pathways see the input at scales 5, 3 and 1
(strided subsampling), each runs eight valid 3x3x3 pre-activation blocks (BatchNorm, PReLU, conv,
plus an identity shortcut where the channel count stays), is upsampled by nearest neighbour, and
the concatenated features pass three 1x1x1 blocks to 5 class logits.

Geometry: an input tile of size `O + 80` per axis gives the logits of its central `O` voxels
(output voxel j is input voxel j + 40), for any `O` that is a multiple of 15 (`LATTICE_VOXELS`).
Output voxel j reads pathway-s feature j // s; the package runs `O = 30` tiles (110^3 inputs).
Because every layer is local and no layer pools over the tile, outputs depend only on the input
values around each voxel and on where the tile's output origin sits modulo 15: tiles whose
output origins lie on the same 15-voxel lattice give identical logits at any size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BlastCtNet",
    "NUM_CLASSES",
    "SCALES",
    "CONTEXT_VOXELS",
    "LATTICE_VOXELS",
    "PACKAGE_INPUT_VOXELS",
    "PACKAGE_OUTPUT_VOXELS",
]

NUM_CLASSES = 5
SCALES = (5, 3, 1)
FEATURE_MAPS = (30, 30, 40, 40, 40, 40, 50, 50)
FULLY_CONNECTED = (250, 250)
CONTEXT_VOXELS = 40  # input voxels needed on each side of the output block
LATTICE_VOXELS = 15  # lcm of the scales: output tile sizes and origins move on this lattice
PACKAGE_INPUT_VOXELS = 110
PACKAGE_OUTPUT_VOXELS = 30
_N_BLOCKS = len(FEATURE_MAPS)


class PreActBlock(nn.Module):
    """BatchNorm -> PReLU -> valid conv (+ the input's centre when the channel count stays)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.bn = nn.BatchNorm3d(in_channels)
        self.prelu = nn.PReLU()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size=kernel, bias=False)
        self.kernel = kernel
        self.residual = in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # PReLU with one parameter is a leaky ReLU of that slope: the same products, done in place.
        z = self.bn(x)
        F.leaky_relu_(z, float(self.prelu.weight))
        out = self.conv(z)
        if self.residual:
            h = self.kernel // 2
            out += x[:, :, h:-h, h:-h, h:-h] if h else x
        return out

    def forward_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """A 1x1x1 block on (voxels, channels) rows: the same arithmetic as a matrix product."""
        bn = self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        z = torch.addcmul(shift, rows, scale)
        F.leaky_relu_(z, float(self.prelu.weight))
        out = F.linear(z, self.conv.weight.flatten(1))
        if self.residual:
            out += rows
        return out


class Pathway(nn.Module):
    """One resolution pathway; `path.0` and `path.9` stand for the package's parameter-free
    down- and up-sampling layers so that parameter names match (`path.1` ... `path.8`)."""

    def __init__(self, scale: int, in_channels: int = 1) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Identity()]
        for i, fm in enumerate(FEATURE_MAPS):
            layers.append(PreActBlock(FEATURE_MAPS[i - 1] if i else in_channels, fm))
        layers.append(nn.Identity())
        self.path = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, out_size: tuple[int, int, int]) -> torch.Tensor:
        """Features of the central `out_size` voxels of input `x` (size out_size + 80)."""
        s = self.scale
        # Coarse feature m covers output voxels [s*m, s*m + s): its centre sample sits at input
        # 40 + s*m + (s - 1) / 2 and needs 8 coarse samples of context on each side.
        start = CONTEXT_VOXELS - _N_BLOCKS * s + (s - 1) // 2
        n = [o // s + 2 * _N_BLOCKS for o in out_size]
        out = x[
            :,
            :,
            start : start + s * n[0] : s,
            start : start + s * n[1] : s,
            start : start + s * n[2] : s,
        ]
        for i in range(1, _N_BLOCKS + 1):
            out = self.path[i](out)
        if s > 1:
            out = F.interpolate(out, scale_factor=s, mode="nearest")
        return out


class BlastCtNet(nn.Module):
    """BLAST-CT DeepMedic; `forward(x)` maps (N, 1, O+80, O+80, O+80) to (N, 5, O, O, O) logits
    (O a multiple of 15 per axis, axes may differ). Inference only (eval mode; no dropout)."""

    def __init__(self, in_channels: int = 1, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.pathways: list[Pathway] = []
        for i, s in enumerate(SCALES):
            p = Pathway(s, in_channels)
            self.add_module(f"path{(s, s, s)}{i}", p)  # the package's names: "path(5, 5, 5)0"
            self.pathways.append(p)
        channels = (FEATURE_MAPS[-1] * len(SCALES), *FULLY_CONNECTED, num_classes)
        self.fully_connected = nn.Sequential(
            *(PreActBlock(channels[i], channels[i + 1], kernel=1) for i in range(len(channels) - 1))
        )
        # The 1x1x1 head runs as matrix products on this many voxels at a time (its 250-channel
        # activations would dominate memory on large tiles); the result does not depend on it.
        self.head_chunk_voxels = 32768

    @staticmethod
    def output_size(input_size: tuple[int, int, int]) -> tuple[int, int, int]:
        """Output block size for an input tile size; raises ValueError when not on the lattice."""
        out = tuple(int(i) - 2 * CONTEXT_VOXELS for i in input_size)
        if any(o <= 0 or o % LATTICE_VOXELS for o in out):
            raise ValueError(f"input {tuple(input_size)}: each side must be 80 + a positive multiple of 15")
        return out  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_size = self.output_size(tuple(x.shape[2:]))  # type: ignore[arg-type]
        feats = torch.cat([p(x, out_size) for p in self.pathways], dim=1)
        n, c = feats.shape[:2]
        rows = feats.permute(0, 2, 3, 4, 1).reshape(-1, c)  # a view when feats is channels-last
        step = max(1, int(self.head_chunk_voxels))
        logits = torch.cat([self._head(rows[i : i + step]) for i in range(0, rows.shape[0], step)])
        return logits.reshape(n, *out_size, -1).permute(0, 4, 1, 2, 3)

    def _head(self, rows: torch.Tensor) -> torch.Tensor:
        for block in self.fully_connected:
            rows = block.forward_rows(rows)
        return rows
