"""Item text as bags of words, for models that read words rather than text embeddings (e.g. DGVAE).

Tokens are lower-case runs of letters, at least three long, minus a short English stop-word list; the vocabulary
is the ``max_words`` words found in the most items, among those in at least ``min_items`` items and at most
``max_share`` of them.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

TOKEN = re.compile(r"[a-z]{3,}")
STOP_WORDS = frozenset(
    "and the for with from that this are was were you your our its their his her not but all any can has have "
    "had one two new set pack size inch inches".split())


def tokens(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOP_WORDS]


def item_word_matrix(texts: list[str], max_words: int = 5000, min_items: int = 2,
                     max_share: float = 0.5) -> tuple[sp.csr_matrix, list[str]]:
    """Word counts per item, ``[n_items, n_words]`` (float32), and the vocabulary in column order."""
    docs = [tokens(t or "") for t in texts]
    vocab_all = sorted({w for doc in docs for w in doc})
    index = {w: n for n, w in enumerate(vocab_all)}
    rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    cols = np.fromiter((index[w] for doc in docs for w in doc), dtype=np.int64, count=len(rows))
    counts = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(docs), len(vocab_all)))
    doc_freq = np.asarray((counts > 0).sum(axis=0)).ravel()
    allowed = np.flatnonzero((doc_freq >= min_items) & (doc_freq <= max_share * max(len(docs), 1)))
    chosen = allowed[np.argsort(-doc_freq[allowed], kind="stable")[:max_words]]
    chosen.sort()
    return counts[:, chosen].tocsr(), [vocab_all[i] for i in chosen]


def tf_idf(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``count * log(n_rows / rows containing the word)`` (words in no row get weight 0)."""
    doc_freq = np.asarray((counts > 0).sum(axis=0)).ravel()
    idf = np.log(counts.shape[0] / np.maximum(doc_freq, 1)).astype(np.float32)
    return (counts @ sp.diags(idf)).tocsr()
