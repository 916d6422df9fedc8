"""Ondo knowledge: loading, embedding, indexing and searching the knowledge base."""
