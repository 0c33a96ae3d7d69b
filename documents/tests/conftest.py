"""Local servers for the storage backends: S3 (moto's server) and a Cloudinary stand-in, over real HTTP."""

import uuid

import pytest

from tests.support import free_port


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, settings):
    """A fresh private bucket, made the platform's media backend for this test."""
    import boto3

    bucket = f"media-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    settings.MEDIA_STORAGE_BACKEND = "s3"
    settings.MEDIA_S3_BUCKET = bucket
    settings.MEDIA_S3_ENDPOINT_URL = s3_server
    settings.MEDIA_S3_ACCESS_KEY_ID = "test-key"
    settings.MEDIA_S3_SECRET_ACCESS_KEY = "test-secret"
    settings.MEDIA_S3_REGION = "us-east-1"
    return client, bucket


@pytest.fixture
def cloudinary_server():
    from documents.tests.cloudinary_standin import CloudinaryStandIn

    server = CloudinaryStandIn(cloud_name="bizdemo", api_key="key-123", api_secret="secret-456").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_storage_choice():
    """Forget cached per-tenant storage choices around a test that changes them."""
    from documents.storage_settings import tenant_backend_forget

    for schema in ("alpha", "beta"):
        tenant_backend_forget(schema)
    yield
    for schema in ("alpha", "beta"):
        tenant_backend_forget(schema)
