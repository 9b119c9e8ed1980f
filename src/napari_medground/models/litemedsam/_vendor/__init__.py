"""Vendored LiteMedSAM network code (TinyViT encoder + SAM prompt encoder/decoder).

Apache-2.0; see README.md and LICENSE in this folder. Imports torch: import lazily.
"""
