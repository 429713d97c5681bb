"""ID embeddings, initialised the way every model here starts them."""

from __future__ import annotations

from torch import nn


def id_embeddings(n_users: int, n_items: int, dim: int) -> tuple[nn.Embedding, nn.Embedding]:
    """User and item ``nn.Embedding`` tables of width ``dim``, Xavier-uniform initialised (Glorot and Bengio,
    AISTATS 2010). Both tables are created before either is initialised, so a seed gives the same weights as
    the models written before this helper."""
    users, items = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
    nn.init.xavier_uniform_(users.weight)
    nn.init.xavier_uniform_(items.weight)
    return users, items
