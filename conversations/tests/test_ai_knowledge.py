"""Website → AI knowledge: a crawl of small local sites served on loopback over real HTTP."""

import pytest
from django.db import connection
from pytest_httpserver import HTTPServer
from werkzeug import Response

from bizmitra.errors import ValidationFailed
from conversations.ai.knowledge import (
    MAX_PAGE_BYTES,
    FetchRefused,
    SiteCrawler,
    address_check,
    knowledge_fetch_run,
    knowledge_fetch_start,
)
from conversations.ai.selectors import ai_settings_get
from tests.support import free_port


def page(title: str, text: str, links: list[str] = ()) -> str:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><ul>{anchors}</ul></nav><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    )


def big_html() -> bytes:
    filler = "<p>" + "Lorem ipsum dolor sit amet. " * 40 + "</p>"
    body = filler * (MAX_PAGE_BYTES // len(filler) + 10)
    return f"<html><body><h1>Big</h1>{body}BIG-PAGE-MARKER</body></html>".encode()


@pytest.fixture
def servers():
    site, other = HTTPServer(host="127.0.0.1", port=free_port()), HTTPServer(host="127.0.0.1", port=free_port())
    site.start()
    other.start()
    yield site, other
    site.stop()
    other.stop()


def requested(server: HTTPServer) -> list[str]:
    return [request.path for request, _response in server.log]


@pytest.fixture
def dairy_site(servers):
    """A small site: same-host pages at depths 1-3, an off-host link, non-HTML and oversized pages."""
    site, other = servers
    off_host = other.url_for("/partner")
    links = [
        "/about",
        "/products",
        "/about#team",
        "#top",
        "/price-sheet",
        "/brochure.pdf",
        "/big",
        "/stream-big",
        "/moved",
        off_host,
        "mailto:hello@dairy.test",
    ]
    site.expect_request("/").respond_with_data(
        page("Shuddh Dairy", "Shuddh Dairy sells pure desi ghee, fresh paneer and A2 milk across Pune.", links),
        content_type="text/html; charset=utf-8",
    )
    site.expect_request("/about").respond_with_data(
        page("About us", "Founded in 1998 by the Kulkarni family, with our own farm near Baramati.", ["/team"]),
        content_type="text/html",
    )
    site.expect_request("/team").respond_with_data(
        page("Our team", "Our delivery team reaches every customer before seven in the morning.", ["/deep"]),
        content_type="text/html",
    )
    site.expect_request("/deep").respond_with_data(
        page("Deep page", "DEEP-PAGE-MARKER should never be fetched: it is three links away."),
        content_type="text/html",
    )
    site.expect_request("/products").respond_with_data(
        page("Products", "A2 cow ghee costs 650 rupees for 500 grams; paneer is 90 rupees for 200 grams.", ["/"]),
        content_type="text/html",
    )
    site.expect_request("/price-sheet").respond_with_data(b"%PDF-1.4 PDF-MARKER", content_type="application/pdf")
    site.expect_request("/brochure.pdf").respond_with_data(b"%PDF-1.4", content_type="application/pdf")
    site.expect_request("/big").respond_with_data(big_html(), content_type="text/html")
    site.expect_request("/stream-big").respond_with_handler(
        lambda request: Response(
            (chunk for chunk in [big_html()[i : i + 65536] for i in range(0, 2_200_000, 65536)]),
            content_type="text/html",
        )
    )
    site.expect_request("/moved").respond_with_response(Response(status=302, headers={"Location": off_host}))
    other.expect_request("/partner").respond_with_data(page("Partner", "OFF-HOST-MARKER"), content_type="text/html")
    return site, other


def test_crawl_follows_same_host_links_within_depth_and_skips_the_rest(dairy_site):
    site, other = dairy_site

    result = SiteCrawler().crawl(site.url_for("/"))

    base = site.url_for("/").rstrip("/")
    outcomes = {p.url.removeprefix(base): (p.status, p.reason) for p in result.pages}
    assert {url for url, (status, _) in outcomes.items() if status == "fetched"} == {
        "/",
        "/about",
        "/products",
        "/team",
    }
    assert outcomes["/price-sheet"] == ("skipped", "not HTML (application/pdf)")
    assert outcomes["/big"] == ("skipped", f"larger than {MAX_PAGE_BYTES} bytes")
    assert outcomes["/stream-big"] == ("skipped", f"larger than {MAX_PAGE_BYTES} bytes")
    assert outcomes["/moved"][0] == "skipped" and "redirected off the site" in outcomes["/moved"][1]
    paths = requested(site)
    assert "/deep" not in paths and "/brochure.pdf" not in paths
    assert paths.count("/about") == 1 and paths.count("/") == 1
    assert requested(other) == []
    text = " ".join(t for _url, _title, t in result.texts)
    assert "desi ghee" in text and "Founded in 1998" in text and "before seven" in text and "650 rupees" in text
    for marker in ("DEEP-PAGE-MARKER", "OFF-HOST-MARKER", "BIG-PAGE-MARKER", "PDF-MARKER"):
        assert marker not in text


def test_depth_zero_reads_only_the_start_page(dairy_site):
    site, _ = dairy_site
    result = SiteCrawler(max_depth=0).crawl(site.url_for("/"))
    assert requested(site) == ["/"] and result.fetched == 1


def test_at_most_max_pages_are_requested(servers):
    site, _ = servers
    links = [f"/p{i}" for i in range(20)]
    site.expect_request("/").respond_with_data(page("Home", "Many pages here.", links), content_type="text/html")
    for link in links:
        site.expect_request(link).respond_with_data(page(link, f"Page {link} text."), content_type="text/html")

    result = SiteCrawler().crawl(site.url_for("/"))

    assert len(requested(site)) == 10 and len(result.pages) == 10 and result.planned == 10


def test_private_addresses_are_refused_unless_allowed(servers, settings):
    site, _ = servers
    site.expect_request("/").respond_with_data(page("Home", "Loopback site."), content_type="text/html")
    settings.KNOWLEDGE_FETCH_ALLOW_PRIVATE = False

    with pytest.raises(FetchRefused, match="not a public address"):
        SiteCrawler().crawl(site.url_for("/"))
    for url in ("http://localhost/", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest/"):
        with pytest.raises(FetchRefused):
            SiteCrawler().crawl(url)
    with pytest.raises(FetchRefused, match="not a public address"):
        address_check("http://localhost:80/", allow_private=False)
    assert requested(site) == []


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http://"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(FetchRefused):
        SiteCrawler(allow_private=True).crawl(url)


def test_fetch_job_replaces_the_knowledge_and_reports_progress(in_alpha, dairy_site):
    site, _ = dairy_site
    job = knowledge_fetch_start(url=site.url_for("/"))
    assert (job.status, job.pages_fetched, job.pages_total) == ("queued", 0, 1)

    done = knowledge_fetch_run(job_id=job.pk)

    assert done.status == "done" and done.error == ""
    assert (done.pages_fetched, done.pages_skipped, done.pages_total) == (4, 4, 8)
    assert [p["status"] for p in done.pages].count("fetched") == 4
    config = ai_settings_get()
    assert "desi ghee" in config.knowledge and "## Products" in config.knowledge
    assert config.knowledge_source_url == site.url_for("/") and config.knowledge_fetched_at
    assert done.chars_extracted == len(config.knowledge)
    # A redelivered task finds the job already done and does nothing.
    assert knowledge_fetch_run(job_id=job.pk) is None


def test_fetch_job_fails_visibly_when_nothing_is_readable(in_alpha, servers):
    site, _ = servers
    site.expect_request("/").respond_with_data("gone", status=404)
    job = knowledge_fetch_start(url=site.url_for("/"))

    failed = knowledge_fetch_run(job_id=job.pk)

    assert failed.status == "failed" and "HTTP 404" in failed.error
    assert ai_settings_get().knowledge == ""


def test_fetch_start_refuses_bad_urls(in_alpha, settings):
    with pytest.raises(ValidationFailed) as caught:
        knowledge_fetch_start(url="ftp://example.com/")
    assert "url" in caught.value.fields
    settings.KNOWLEDGE_FETCH_ALLOW_PRIVATE = False
    with pytest.raises(ValidationFailed):
        knowledge_fetch_start(url="http://127.0.0.1:8000/")
    assert connection.schema_name == "alpha"
