"""Training-time image augmentation: random crop and horizontal flip (CIFAR-10).

The standard CIFAR-10 recipe (He et al. 2016, "Deep Residual Learning", sec. 4.2:
"4 pixels are padded on each side, and a 32x32 crop is randomly sampled from
the padded image or its horizontal flip"), applied to a whole batch by the
trainer, never to validation or test samples. One draw per sample is shared by
all its time steps. The draws come from a generator the trainer seeds with
(train.seed, epoch, batch), so a resumed run augments exactly as an
uninterrupted one, whatever the number of DataLoader workers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PADDING = 4     # pixels of zero padding on each side before the crop (He et al. 2016)


def crop_and_flip(x: torch.Tensor, generator: torch.Generator, padding: int = PADDING) -> torch.Tensor:
    """x [B, T, C, H, W] -> same shape: each sample shifted by a random crop of its
    zero-padded image, and mirrored left-right with probability 1/2."""
    B, T, C, H, W = x.shape
    padded = F.pad(x.flatten(1, 2), (padding,) * 4).unflatten(1, (T, C))
    offsets = torch.randint(0, 2 * padding + 1, (B, 2), generator=generator).tolist()
    flips = torch.rand(B, generator=generator) < 0.5
    out = torch.stack([padded[b, :, :, i:i + H, j:j + W] for b, (i, j) in enumerate(offsets)])
    return torch.where(flips.view(B, 1, 1, 1, 1).to(x.device), out.flip(-1), out)
