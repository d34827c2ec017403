"""Fixtures of the email tests: the SendGrid stand-in server and the test certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.sendgrid_standin import sendgrid_server, sendgrid_standin
from tests.fixtures.smtp_server import Certificates, make_certificates

__all__ = ["sendgrid_server", "sendgrid_standin"]


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("certificates")))
