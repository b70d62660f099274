"""Bundle tarballs from a bundle server are untrusted bytes: unpacked in memory within limits,
refusing anything that could leave the bundle; `admit build` makes them reproducibly, and signs
them as OPA signs bundles (`.signatures.json`)."""

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from admit.cli import main
from admit.loading.signing import Verifier, sign
from admit.loading.tarball import (
    MANIFEST,
    SIGNATURES,
    BundleArchiveError,
    Limits,
    pack,
    revision_of,
    unpack,
)
from tests.helpers import SEED

FILES = [("rules.py", b"import admit\n"), ("data.json", b'{"a": 1}'), (MANIFEST, b'{"revision": "r1"}')]


def tarball(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_pack_is_reproducible_and_unpack_reads_it_back():
    assert pack(FILES) == pack(list(reversed(FILES)))
    assert unpack(pack(FILES)) == sorted(FILES)
    assert revision_of(unpack(pack(FILES))) == "r1"


def test_opa_style_leading_slashes_are_read_as_bundle_names():
    """OPA's tarballs name their files `/data.json`, `/.manifest`."""
    data = tarball((member("/data.json"), b"{}"), (member("./x/y.py"), b""), (member("dir/", tarfile.DIRTYPE), None))
    assert [name for name, _ in unpack(data)] == ["data.json", "x/y.py"]


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([(member("../escape.py"), b"x")], "leaves the bundle"),
        ([(member("a/../../escape.py"), b"x")], "leaves the bundle"),
        ([(member("link.py", tarfile.SYMTYPE, "/etc/passwd"), None)], "is a link"),
        ([(member("hard.py", tarfile.LNKTYPE, "rules.py"), None)], "is a link"),
        ([(member("dev", tarfile.CHRTYPE), None)], "not a regular file"),
        ([(member("fifo", tarfile.FIFOTYPE), None)], "not a regular file"),
        ([(member("a.py"), b"1"), (member("/a.py"), b"2")], "appears twice"),
        ([(member("a\\b.py"), b"1")], "backslash"),
    ],
)
def test_unpack_refuses_what_could_leave_the_bundle(members, why):
    with pytest.raises(BundleArchiveError, match=why):
        unpack(tarball(*members))


def test_unpack_stops_a_gzip_bomb_at_the_cap():
    bomb = tarball((member("zeros.json"), bytes(50 * 1024 * 1024)))
    assert len(bomb) < 100 * 1024
    with pytest.raises(BundleArchiveError, match="larger than"):
        unpack(bomb, Limits(file_bytes=1024 * 1024, total_bytes=4 * 1024 * 1024))
    many = tarball(*[(member(f"f{i}.py"), b"") for i in range(30)])
    with pytest.raises(BundleArchiveError, match="more than 20 files"):
        unpack(many, Limits(files=20))
    split = tarball(*[(member(f"f{i}.json"), bytes(600 * 1024)) for i in range(8)])
    with pytest.raises(BundleArchiveError, match="larger than 4194304 bytes once unpacked"):
        unpack(split, Limits(file_bytes=1024 * 1024, total_bytes=4 * 1024 * 1024))


def test_unpack_refuses_what_is_not_a_tarball():
    for data in (b"", b"not gzip at all", gzip.compress(b"not a tar archive" * 100)):
        with pytest.raises(BundleArchiveError, match=r"not a \.tar\.gz bundle"):
            unpack(data)


def rsa_key(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _write(tmp_path, "rsa", key)


def _write(tmp_path: Path, name: str, key) -> tuple[Path, Path]:
    private = tmp_path / f"{name}.key"
    public = tmp_path / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.mark.parametrize("algorithm", ["RS256", "PS384", "ES256", "HS512"])
def test_a_signed_bundle_verifies_and_any_change_is_refused(tmp_path, algorithm):
    if algorithm.startswith("ES"):
        private, public = _write(tmp_path, "ec", ec.generate_private_key(ec.SECP256R1()))
    elif algorithm.startswith("HS"):
        private = public = tmp_path / "secret"
        private.write_text("a shared secret of some length\n")
    else:
        private, public = rsa_key(tmp_path)
    signed = [*FILES, (SIGNATURES, sign(FILES, private, algorithm, key_id="k1"))]
    token = json.loads(dict(signed)[SIGNATURES])["signatures"][0]
    assert token.count(".") == 2  # a compact JWS, as OPA's
    Verifier(public).verify(signed)
    changed = [(n, b"import os\n" if n == "rules.py" else d) for n, d in signed]
    with pytest.raises(BundleArchiveError, match=r"'rules\.py' differs from the signed one"):
        Verifier(public).verify(changed)
    with pytest.raises(BundleArchiveError, match=r"'extra\.py' is not in the signature"):
        Verifier(public).verify([*signed, ("extra.py", b"")])
    with pytest.raises(BundleArchiveError, match=r"'data\.json' is missing"):
        Verifier(public).verify([f for f in signed if f[0] != "data.json"])
    with pytest.raises(BundleArchiveError, match="not signed"):
        Verifier(public).verify(FILES)


def test_a_signature_made_with_another_key_or_posing_as_hmac_is_refused(tmp_path):
    _, public = rsa_key(tmp_path)
    other, _ = _write(tmp_path, "other", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    forged = [*FILES, (SIGNATURES, sign(FILES, other))]
    with pytest.raises(BundleArchiveError, match="does not verify"):
        Verifier(public).verify(forged)
    secret = tmp_path / "as-secret"
    secret.write_bytes(public.read_bytes().replace(b"-----BEGIN", b"xxBEGIN"))
    confused = [*FILES, (SIGNATURES, sign(FILES, secret, "HS256"))]  # HMAC keyed by the public key
    with pytest.raises(BundleArchiveError, match="HS256, which the verification key cannot check"):
        Verifier(public).verify(confused)


def test_admit_build_makes_the_same_bytes_twice_with_the_revision_and_a_signature(tmp_path, capsys):
    private, public = rsa_key(tmp_path)
    first, second = tmp_path / "one.tar.gz", tmp_path / "two.tar.gz"
    for output in (first, second):
        with pytest.raises(SystemExit) as done:
            main(["build", str(SEED), "-o", str(output), "--revision", "abc123", "--signing-key", str(private)])
        assert done.value.code == 0
    assert first.read_bytes() == second.read_bytes()
    files = unpack(first.read_bytes())
    names = [name for name, _ in files]
    assert "trusted_images.py" in names
    assert SIGNATURES in names
    assert revision_of(files) == "abc123"
    Verifier(public).verify(files)
    assert json.loads(capsys.readouterr().err.splitlines()[-1])["revision"] == "abc123"


def test_admit_build_refuses_a_bundle_that_does_not_load(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "rules.py").write_text("def x(:\n")
    with pytest.raises(SystemExit) as done:
        main(["build", str(broken), "-o", str(tmp_path / "out.tar.gz")])
    assert done.value.code == 3
    assert "syntax_error" in capsys.readouterr().err
    assert not (tmp_path / "out.tar.gz").exists()
