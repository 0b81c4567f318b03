"""The LangGraph agent: retrieve, grade, rewrite and retry, generate."""
