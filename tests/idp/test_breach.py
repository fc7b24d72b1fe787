"""Breached-password sources (S2, ASVS 6.2.12): a sorted SHA-1 file and the Pwned
Passwords range API (k-anonymity), both off unless configured."""

from __future__ import annotations

import hashlib
import html
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from idp.breach import PwnedRangeSource, Sha1FileSource
from idp.runtime import breached_source
from idp.settings import load_settings
from tests.helpers import csrf, get_account

BREACHED = "purple monkey dishwasher 77"
CLEAN = "unrelated quiet orchard lamp"


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode("utf-8")).hexdigest().upper()  # noqa: S324 - corpus key


def write_corpus(path: Path, passwords: list[str], *, counts: bool = True,
                 newline: str = "\n") -> Path:
    hashes = sorted(sha1(p) for p in passwords)
    lines = [f"{h}:{i + 1}" if counts else h for i, h in enumerate(hashes)]
    path.write_text(newline.join(lines) + newline, encoding="ascii")
    return path


CORPUS = [f"leaked password number {i}" for i in range(600)] + [BREACHED]
NOT_IN_CORPUS = [f"never leaked phrase {i}" for i in range(300)] + [CLEAN]


@pytest.mark.parametrize("counts", [True, False])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sha1_file_finds_every_entry_and_nothing_else_S2(tmp_path, counts, newline):
    """Binary search over the sorted file: every listed hash is found (first, last and
    all between), no other is."""
    source = Sha1FileSource(str(write_corpus(tmp_path / "sha1.txt", CORPUS, counts=counts,
                                             newline=newline)))
    for password in CORPUS:
        assert source.is_breached(password), password
    for password in NOT_IN_CORPUS:
        assert not source.is_breached(password), password


def test_sha1_file_with_one_entry_and_empty_file_S2(tmp_path):
    one = Sha1FileSource(str(write_corpus(tmp_path / "one.txt", [BREACHED])))
    assert one.is_breached(BREACHED)
    assert not one.is_breached(CLEAN)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert not Sha1FileSource(str(empty)).is_breached(BREACHED)


def test_sha1_file_accepts_lower_case_hashes_S2(tmp_path):
    path = tmp_path / "lower.txt"
    path.write_text("\n".join(sorted(sha1(p).lower() for p in CORPUS)) + "\n", encoding="ascii")
    assert Sha1FileSource(str(path)).is_breached(BREACHED)


def test_missing_file_does_not_stop_registration_S2(tmp_path, caplog):
    """A source that cannot answer says "not breached" and warns."""
    source = Sha1FileSource(str(tmp_path / "absent.txt"))
    assert not source.is_breached(BREACHED)
    assert "cannot be read" in caplog.text


def test_breached_sources_off_by_default_S2(app):
    settings = load_settings(environ={})
    assert settings.password.breached_sha1_file == ""
    assert settings.password.pwned_api_enabled is False
    assert breached_source(settings.password) is None
    assert app.extensions["clef"].policy.breached is None


def _register(client, username: str, password: str):
    token = csrf(client, "/register")
    return client.post("/register", data={"csrf_token": token, "username": username,
                                          "password": password, "confirm": password})


BREACHED_REASON = "This password has appeared in a data breach elsewhere"


def test_registration_refuses_password_in_sha1_file_S2_J2(make_app, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", CORPUS)
    app = make_app(password={"breached_sha1_file": str(corpus)})
    refused = _register(app.test_client(), "alice", BREACHED)
    assert refused.status_code == 400
    assert BREACHED_REASON in html.unescape(refused.get_data(as_text=True))
    assert get_account(app, "alice") is None
    assert _register(app.test_client(), "alice", CLEAN).status_code == 303


# --- Pwned Passwords range API against a local server -----------------------------------


@dataclass
class RangeServer:
    url: str
    requests: list[dict[str, str]] = field(default_factory=list)
    corpus: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def range_server() -> Iterator[RangeServer]:
    """A stand-in for api.pwnedpasswords.com/range/: answers ``SUFFIX:COUNT`` lines for
    the prefix asked, with padding lines of count 0, and records what it was sent."""
    state = RangeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append({"path": self.path, **headers})
            prefix = self.path.rsplit("/", 1)[-1].upper()
            lines = [f"{h[5:]}:{n}" for h, n in state.corpus.items() if h.startswith(prefix)]
            lines += [f"{'0' * 30}{i:05X}:0" for i in range(5)]  # padding, as the API adds
            body = "\r\n".join(lines).encode("ascii")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/range/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_pwned_range_sends_only_the_five_character_prefix_S2(range_server):
    digest = sha1(BREACHED)
    range_server.corpus[digest] = 42
    source = PwnedRangeSource(range_server.url, timeout=5)
    assert source.is_breached(BREACHED)
    assert len(range_server.requests) == 1
    sent = range_server.requests[0]
    assert sent["path"] == f"/range/{digest[:5]}"
    everything_sent = " ".join(sent.values()).upper()
    assert digest[5:] not in everything_sent
    assert digest[5:11] not in everything_sent
    assert BREACHED.upper() not in everything_sent
    assert sent.get("add-padding") == "true"


def test_pwned_range_not_breached_and_padding_ignored_S2(range_server):
    range_server.corpus[sha1(BREACHED)] = 3
    # A padding-style entry of count 0 for the clean password's own suffix.
    range_server.corpus[sha1(CLEAN)] = 0
    source = PwnedRangeSource(range_server.url, timeout=5)
    assert not source.is_breached(CLEAN)
    assert not source.is_breached("some other phrase entirely")
    assert source.is_breached(BREACHED)


def test_pwned_range_down_means_not_breached_S2(caplog):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = PwnedRangeSource(f"http://127.0.0.1:{port}/range/", timeout=1)
    assert not source.is_breached(BREACHED)
    assert "did not answer" in caplog.text


def test_registration_refuses_password_known_to_range_api_S2_J2(make_app, range_server):
    range_server.corpus[sha1(BREACHED)] = 1234
    app = make_app(password={"pwned_api_enabled": True, "pwned_api_url": range_server.url})
    refused = _register(app.test_client(), "alice", BREACHED)
    assert refused.status_code == 400
    assert BREACHED_REASON in html.unescape(refused.get_data(as_text=True))
    assert get_account(app, "alice") is None
    assert all(r["path"] == f"/range/{sha1(BREACHED)[:5]}" for r in range_server.requests)
    assert _register(app.test_client(), "alice", CLEAN).status_code == 303
