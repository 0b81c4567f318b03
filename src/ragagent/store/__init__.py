"""Vector stores index chunks for hybrid search (BM25 and k-NN)."""
