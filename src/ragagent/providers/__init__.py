"""Clients of remote model providers (Bedrock, OpenAI-compatible APIs) and the translation of their errors."""
