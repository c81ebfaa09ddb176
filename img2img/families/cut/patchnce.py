"""The patchwise contrastive loss of CUT (PatchNCE)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: the logit a query's similarity to its own key gets among the negatives (the reference's)
OWN_KEY_LOGIT = -10.0


def patch_nce_loss(feat_q: Tensor, feat_k: Tensor, temperature: float, batch_size: int,
                   all_negatives_from_minibatch: bool = False) -> Tensor:
    """PatchNCE (Park et al. 2020): per query patch, the cross-entropy of picking its own key
    (the patch at the same position of the other image) among the other keys.

    ``feat_q`` and ``feat_k`` are ``[batch_size * P, C]`` (P patches per image, image-major);
    keys carry no gradient. The negatives of a query are the other P - 1 keys of its image
    (of the whole batch with ``all_negatives_from_minibatch``); the logits are the cosine
    similarities over ``temperature``, a query's similarity to its own key as a negative
    replaced by -10. Returns the loss of every query patch, ``[batch_size * P]``, in fp32.
    """
    q, k = feat_q.float(), feat_k.detach().float()
    dim = q.shape[1]
    positive = (q * k).sum(1, keepdim=True)
    groups = 1 if all_negatives_from_minibatch else batch_size
    q_groups, k_groups = q.view(groups, -1, dim), k.view(groups, -1, dim)
    patches = q_groups.shape[1]
    negative = torch.bmm(q_groups, k_groups.transpose(1, 2))
    own = torch.eye(patches, dtype=torch.bool, device=q.device)[None]
    negative = negative.masked_fill(own, OWN_KEY_LOGIT).view(-1, patches)
    logits = torch.cat((positive, negative), dim=1) / temperature
    targets = torch.zeros(logits.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, targets, reduction="none")
