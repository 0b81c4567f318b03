"""ragagent: retrieval-augmented question answering over PDFs, offline or on AWS."""

__version__ = "0.1.0"
