"""Adapters that run ragagent on AWS: S3 artifacts, DynamoDB status, event parsing and Lambda tasks.

Importing this package needs boto3 (`pip install 'ragagent[aws]'`) only in the
modules that create clients; `keys` works without it.
"""
