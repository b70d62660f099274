"""Signed bundles, as OPA signs them: `.signatures.json` holds `{"signatures": [JWT]}`, a JWS
(compact) whose payload lists every file of the bundle with its SHA-256 (`{"files": [{"name",
"hash", "algorithm"}]}`). `admit build --signing-key` writes it; `admit serve
--verification-key` refuses a downloaded bundle unless the signature verifies with the key and
the files are exactly those listed, with those hashes.

Keys: a PEM private key signs and its PEM public key verifies (RSA: RS256/384/512 and
PS256/384/512; EC: ES256/384/512); any other key file is an HMAC secret (HS256/384/512). The
algorithm a signature names must suit the key, so a public key is never used as an HMAC secret.
Unlike OPA, which hashes JSON files in a normal form, every file is hashed as its bytes are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admit.loading.tarball import SIGNATURES, BundleArchiveError

__all__ = ["SIGNATURES", "Verifier", "sign"]

_HASHES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}
ALGORITHMS = tuple(f"{family}{bits}" for family in ("RS", "PS", "ES", "HS") for bits in _HASHES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encoded(value: Any) -> str:
    return _b64(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def _files_claim(files: Iterable[tuple[str, bytes]]) -> list[dict[str, str]]:
    return [
        {"name": name, "hash": hashlib.sha256(content).hexdigest(), "algorithm": "SHA-256"}
        for name, content in sorted(files)
        if name != SIGNATURES
    ]


def _load_key(path: Path, *, private: bool) -> Any:
    """A PEM key (private to sign, public to verify), or the file's bytes as an HMAC secret."""
    data = path.read_bytes()
    if b"-----BEGIN" not in data:
        return data.strip()
    from cryptography.hazmat.primitives import serialization

    if private:
        return serialization.load_pem_private_key(data, password=None)
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:  # a private key given to verify: its public half verifies
        return serialization.load_pem_private_key(data, password=None).public_key()


def _suits(key: Any, algorithm: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    family = algorithm[:2]
    if isinstance(key, bytes):
        return family == "HS"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return family in ("RS", "PS")
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return family == "ES"
    return False


def _hash(algorithm: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    return getattr(hashes, _HASHES[algorithm[2:]])()


def _signature(key: Any, algorithm: str, message: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    family = algorithm[:2]
    if family == "HS":
        return hmac.new(key, message, _HASHES[algorithm[2:]].lower()).digest()
    if family == "RS":
        return bytes(key.sign(message, padding.PKCS1v15(), _hash(algorithm)))
    if family == "PS":
        pss = padding.PSS(mgf=padding.MGF1(_hash(algorithm)), salt_length=padding.PSS.DIGEST_LENGTH)
        return bytes(key.sign(message, pss, _hash(algorithm)))
    der = key.sign(message, ec.ECDSA(_hash(algorithm)))  # JWS: r and s, fixed width
    r, s = utils.decode_dss_signature(der)
    width = (key.curve.key_size + 7) // 8
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def sign(
    files: Iterable[tuple[str, bytes]], key_file: Path, algorithm: str = "RS256", key_id: str = ""
) -> bytes:
    """The `.signatures.json` of a bundle's files, signed with the key in `key_file`."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"signing algorithm {algorithm} is not one of {', '.join(ALGORITHMS)}")
    key = _load_key(key_file, private=True)
    if not _suits(key, algorithm):
        raise ValueError(f"the key in {key_file} cannot sign with {algorithm}")
    header: dict[str, Any] = {"alg": algorithm, "typ": "JWT"}
    payload: dict[str, Any] = {"files": _files_claim(files)}
    if key_id:
        header["kid"] = payload["keyid"] = key_id
    message = f"{_encoded(header)}.{_encoded(payload)}".encode()
    token = f"{message.decode()}.{_b64(_signature(key, algorithm, message))}"
    return json.dumps({"signatures": [token]}, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class Verifier:
    """Checks a bundle's `.signatures.json` against one key."""

    key_file: Path

    def verify(self, files: Iterable[tuple[str, bytes]]) -> None:
        """Return if the bundle is signed by the key and unchanged; else `BundleArchiveError`
        naming what is wrong."""
        files = list(files)
        found = dict(files)
        if SIGNATURES not in found:
            raise BundleArchiveError(f"the bundle is not signed (no {SIGNATURES})")
        try:
            tokens = json.loads(found[SIGNATURES])["signatures"]
            header_b64, payload_b64, signature_b64 = tokens[0].split(".")
            header = json.loads(_unb64(header_b64))
            payload = json.loads(_unb64(payload_b64))
            signature = _unb64(signature_b64)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BundleArchiveError(f"{SIGNATURES} cannot be read: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise BundleArchiveError(f"{SIGNATURES}: unsupported algorithm {algorithm!r}")
        key = _load_key(self.key_file, private=False)
        if not _suits(key, algorithm):
            raise BundleArchiveError(
                f"{SIGNATURES}: signed with {algorithm}, which the verification key cannot check"
            )
        if not _verifies(key, algorithm, f"{header_b64}.{payload_b64}".encode(), signature):
            raise BundleArchiveError(f"{SIGNATURES}: the signature does not verify with the key")
        listed = {
            str(f.get("name")): f for f in payload.get("files") or () if isinstance(f, dict)
        }
        actual = {c["name"]: c for c in _files_claim(files)}
        for name in sorted(set(listed) | set(actual)):
            if name not in listed:
                raise BundleArchiveError(f"bundle file {name!r} is not in the signature")
            if name not in actual:
                raise BundleArchiveError(f"signed file {name!r} is missing from the bundle")
            if listed[name].get("hash") != actual[name]["hash"]:
                raise BundleArchiveError(f"bundle file {name!r} differs from the signed one")


def _verifies(key: Any, algorithm: str, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    family = algorithm[:2]
    try:
        if family == "HS":
            return hmac.compare_digest(_signature(key, algorithm, message), signature)
        if family == "RS":
            key.verify(signature, message, padding.PKCS1v15(), _hash(algorithm))
        elif family == "PS":
            mgf = padding.MGF1(_hash(algorithm))
            pss = padding.PSS(mgf=mgf, salt_length=padding.PSS.AUTO)
            key.verify(signature, message, pss, _hash(algorithm))
        else:
            width = len(signature) // 2
            r = int.from_bytes(signature[:width], "big")
            s = int.from_bytes(signature[width:], "big")
            key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(_hash(algorithm)))
    except (InvalidSignature, ValueError):
        return False
    return True
