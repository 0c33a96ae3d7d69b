"""The one media storage: tenant namespacing, checks, S3 and Cloudinary over real HTTP, signed links."""

import base64
import hashlib
import time

import httpx
import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django_tenants.utils import schema_context

from bizmitra.storage import MEDIA_SIZE_LIMITS, MediaRejected, media_check, media_link, media_sniff
from documents.tests.samples import invoice_png, text_pdf
from tests.tenancy import tenant_client


def test_keys_are_namespaced_per_tenant_and_other_tenants_cannot_open_them(in_alpha):
    name = default_storage.save("notes/hello.txt", ContentFile(b"alpha's file"))
    try:
        assert name.startswith("tenants/alpha/notes/")
        with schema_context("beta"):
            with pytest.raises(SuspiciousFileOperation):
                default_storage.open(name)
            with pytest.raises(SuspiciousFileOperation):
                default_storage.delete(name)
            # a name without the prefix lands in beta's own space
            assert not default_storage.exists(name.removeprefix("tenants/alpha/"))
        with schema_context("public"):  # the platform itself may read any tenant's file
            assert default_storage.open(name).read() == b"alpha's file"
        assert default_storage.open(name).read() == b"alpha's file"
    finally:
        default_storage.delete(name)


def test_sha256_is_checked_in_hex_and_base64():
    data = b"%PDF-1.7 some bytes"
    digest = hashlib.sha256(data).digest()
    assert media_check(data=data, kind="document", expected_sha256=digest.hex()) == "application/pdf"
    assert media_check(data=data, kind="document", expected_sha256=base64.b64encode(digest).decode())
    with pytest.raises(MediaRejected, match="sha256 does not match"):
        media_check(data=data + b"x", kind="document", expected_sha256=digest.hex())


@pytest.mark.parametrize("kind", ["image", "sticker", "audio"])
def test_meta_size_limits_per_type(kind):
    limit = MEDIA_SIZE_LIMITS[kind]
    assert media_check(data=b"\x00" * limit, kind=kind)
    with pytest.raises(MediaRejected, match=f"WhatsApp allows at most {limit} bytes"):
        media_check(data=b"\x00" * (limit + 1), kind=kind)


def test_type_is_sniffed_from_the_bytes():
    assert media_sniff(invoice_png()) == "image/png"
    assert media_sniff(text_pdf()) == "application/pdf"
    assert media_sniff("नमस्ते, plain text".encode()) == "text/plain"
    assert media_sniff(b"\x00\x01\x02binary") == "application/octet-stream"


def test_s3_backend_stores_under_the_tenant_prefix_in_a_private_bucket(in_alpha, s3_bucket, s3_server):
    client, bucket = s3_bucket
    name = default_storage.save("documents/invoice.pdf", ContentFile(text_pdf()))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [name] and name.startswith("tenants/alpha/documents/")
    assert default_storage.open(name).read() == text_pdf()
    # nobody reaches the object without credentials, and our url() is never the bucket's
    assert httpx.get(f"{s3_server}/{bucket}/{name}").status_code == 403
    assert default_storage.url(name).startswith("/files/")
    default_storage.delete(name)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_global_cloudinary_backend(in_alpha, cloudinary_server, settings):
    settings.MEDIA_STORAGE_BACKEND = "cloudinary"
    settings.CLOUDINARY_CLOUD_NAME = cloudinary_server.cloud_name
    settings.CLOUDINARY_API_KEY = cloudinary_server.api_key
    settings.CLOUDINARY_API_SECRET = cloudinary_server.api_secret
    settings.CLOUDINARY_UPLOAD_PREFIX = cloudinary_server.upload_prefix
    name = default_storage.save("media/photo.png", ContentFile(invoice_png()))
    assert ("authenticated", name) in cloudinary_server.files  # private delivery type
    assert name.startswith("tenants/alpha/media/")
    assert default_storage.open(name).read() == invoice_png()
    default_storage.delete(name)
    assert cloudinary_server.files == {}


def test_a_tenant_cloudinary_account_with_its_secret_encrypted_at_rest(
    in_alpha, cloudinary_server, fresh_storage_choice
):
    from documents.models import DocumentSettings
    from documents.services import document_settings_get

    config = document_settings_get()
    config.storage = "cloudinary"
    config.cloudinary_cloud_name = cloudinary_server.cloud_name
    config.cloudinary_api_key = cloudinary_server.api_key
    config.cloudinary_api_secret = cloudinary_server.api_secret
    config.cloudinary_upload_prefix = cloudinary_server.upload_prefix
    config.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT cloudinary_api_secret FROM documents_documentsettings WHERE id = 1")
        stored = cursor.fetchone()[0]
    assert cloudinary_server.api_secret not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert DocumentSettings.objects.get(pk=1).cloudinary_api_secret == cloudinary_server.api_secret

    name = default_storage.save("media/receipt.pdf", ContentFile(text_pdf()))
    assert ("authenticated", name) in cloudinary_server.files
    with schema_context("beta"):  # beta did not configure Cloudinary: its files stay local
        other = default_storage.save("media/receipt.pdf", ContentFile(b"beta"))
        assert other.startswith("tenants/beta/") and all(key[1] != other for key in cloudinary_server.files)
        with open(default_storage.path(other), "rb") as handle:  # on the local disk
            assert handle.read() == b"beta"
        default_storage.delete(other)
    assert default_storage.open(name).read() == text_pdf()


def test_a_wrong_cloudinary_secret_is_refused_by_the_service(in_alpha, cloudinary_server, settings):
    settings.MEDIA_STORAGE_BACKEND = "cloudinary"
    settings.CLOUDINARY_CLOUD_NAME = cloudinary_server.cloud_name
    settings.CLOUDINARY_API_KEY = cloudinary_server.api_key
    settings.CLOUDINARY_API_SECRET = "not-the-secret"
    settings.CLOUDINARY_UPLOAD_PREFIX = cloudinary_server.upload_prefix
    import cloudinary.exceptions

    with pytest.raises(cloudinary.exceptions.Error, match="Invalid Signature"):
        default_storage.save("media/x.png", ContentFile(b"x"))


# -- signed links -----------------------------------------------------------------------------


@pytest.fixture
def alpha_file(alpha, db):
    with schema_context("alpha"):
        name = default_storage.save("media/invoice.png", ContentFile(invoice_png()))
        yield name
        default_storage.delete(name)


def test_a_signed_link_serves_the_file_on_the_tenant_host(alpha, alpha_file):
    with schema_context("alpha"):
        link = media_link(name=alpha_file, download_name="invoice.png")
    response = tenant_client(alpha).get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == invoice_png()
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_tampered_expired_or_foreign_link_is_404(alpha, beta, alpha_file):
    with schema_context("alpha"):
        link = media_link(name=alpha_file)
        expired = media_link(name=alpha_file, seconds=1)
    client = tenant_client(alpha)
    path, _, query = link.partition("?")
    assert client.get(path + "?" + query.replace("e=", "e=9")).status_code == 404  # later expiry, same MAC
    assert client.get(path[:-3] + "abc?" + query).status_code == 404
    assert tenant_client(beta).get(link).status_code == 404  # alpha's link on beta's host
    time.sleep(2.1)  # a link's life is in whole seconds
    assert client.get(expired).status_code == 404
