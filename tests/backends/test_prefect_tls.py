"""The Prefect API client skips loading the CA bundle for a plain-HTTP server (no TLS is ever
made there), and still verifies an https server's certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowplan.backends.prefect.http import Api
from flowplan.errors import FlowplanError
from tests.servers import private_https_git


def test_an_https_server_with_a_certificate_nobody_signed_is_refused(tmp_path: Path) -> None:
    with private_https_git(tmp_path, "token") as url:
        api = Api(url + "/api", retries=1, backoff=0.0)
        with pytest.raises(FlowplanError) as caught:
            api.get("health")
        api.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert url in str(caught.value)


def test_ssl_cert_file_is_trusted_as_prefects_client_trusts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with private_https_git(tmp_path, "token") as url:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # its certificate
        api = Api(url + "/api", retries=1, backoff=0.0)
        with pytest.raises(FlowplanError) as caught:
            api.get("health")
        api.close()
    assert "the Prefect API refused the request (401" in str(caught.value)  # TLS went through
