"""`admit build`: a bundle directory as a tarball for a bundle server (`admit serve
--bundle-url`), as `opa build` makes one: reproducible, with a `.manifest` revision, optionally
signed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from admit.cli.options import BUNDLE, BUNDLE_HELP
from admit.core.errors import InputError
from admit.loading.loader import bundle_files, load_bundle
from admit.loading.signing import ALGORITHMS, SIGNATURES, sign
from admit.loading.tarball import MANIFEST, directory_files, manifest_bytes, pack, read_manifest


@click.command("build", epilog=BUNDLE_HELP)
@click.argument("bundle", type=BUNDLE)
@click.option(
    "-o",
    "--output",
    default="bundle.tar.gz",
    show_default=True,
    metavar="FILE",
    help="Where to write the tarball (- for stdout).",
)
@click.option(
    "--revision",
    default=None,
    metavar="REVISION",
    help="The bundle's revision in its .manifest (shown by /readyz, the console and each "
    "decision-log event)  [default: the revision of BUNDLE/.manifest, if any]",
)
@click.option(
    "--signing-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sign the bundle: a PEM private key (RSA or EC), or a file holding an HMAC secret. "
    "Servers given its public key (--verification-key) serve only bundles it signed.",
)
@click.option(
    "--signing-alg",
    type=click.Choice(ALGORITHMS),
    default="RS256",
    show_default=True,
    help="The JWS algorithm of the signature (RS*/PS* for RSA keys, ES* for EC, HS* for a "
    "secret).",
)
@click.option("--key-id", default="", help="A key id to put in the signature (kid, keyid).")
def build(
    bundle: Path,
    output: str,
    revision: str | None,
    signing_key: Path | None,
    signing_alg: str,
    key_id: str,
) -> int:
    """Build BUNDLE into a .tar.gz for a bundle server, as `opa build` does.

    The bundle is loaded first (a bundle that does not load is not built). The tarball holds
    its modules, admit.yaml, data and test files, and a .manifest with the revision; the same
    files always give the same bytes, so a rebuild changes nothing unless the bundle did.

    \b
    Examples:
      admit build policies/ -o bundle.tar.gz --revision "$(git rev-parse HEAD)"
      admit build policies/ --signing-key private.pem
      admit serve --bundle-url https://bundles.example/bundle.tar.gz \\
                  --verification-key public.pem ...

    Exit codes: 0 built, 2 usage, 3 the bundle failed to load.
    """
    load_bundle(bundle)
    written = Path(output).resolve() if output != "-" else None
    files = directory_files(bundle, [p for p in bundle_files(bundle) if p.resolve() != written])
    manifest_path = bundle / MANIFEST
    manifest = {}
    if manifest_path.is_file():
        manifest = read_manifest([(MANIFEST, manifest_path.read_bytes())])
    if revision is not None:
        manifest["revision"] = revision
    files = [(name, data) for name, data in files if name not in (MANIFEST, SIGNATURES)]
    if manifest:
        files.append((MANIFEST, manifest_bytes(manifest)))
    if signing_key is not None:
        try:
            files.append((SIGNATURES, sign(files, signing_key, signing_alg, key_id)))
        except (ValueError, TypeError) as exc:
            raise InputError(f"cannot sign with {signing_key}: {exc}") from None
    data = pack(files)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)
        summary = {"output": output, "files": len(files), "bytes": len(data)}
        if manifest.get("revision"):
            summary["revision"] = manifest["revision"]
        click.echo(json.dumps(summary), err=True)
    return 0
