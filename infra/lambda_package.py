"""Make the packaged ``deployment.zip`` quicker to start: the SDK models it needs, its bytecode.

Two steps on what ``chalice package`` wrote (``make package`` runs this between chalice and
``infra/build_merge.py``); docs/performance.md ("The package") has the measurements behind both.

1. **Only the AWS SDK models of the services the functions call.** The package bundles boto3 and
   botocore at the versions pinned in requirements.txt (the versions the tests run against).
   botocore ships a model for every AWS service, about 16 MB of a 22 MB package, and reads one
   only when a client for that service is created. The functions create clients for the
   services their IAM policies grant (``infra.iam.CODE_GRANTS``: a call a policy does not grant
   fails tests/integration/test_iam.py), so those models are kept, with botocore's own files at
   the root of its data folder (endpoints, partitions, defaults).
2. **Every module compiled to bytecode.** Wheels carry no ``.pyc`` files and Lambda's code folder
   is read-only, so without them every cold start compiles each module it imports from source,
   and throws the result away. They are compiled by the interpreter that runs this (the Makefile
   requires the Lambda runtime's Python version) as unchecked-hash ``.pyc`` files: valid whatever
   modification times the files get when Lambda unpacks the package, which never changes them.

Usage::

    python -m infra.lambda_package out/deployment.zip
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import tempfile
import zipfile
from pathlib import Path

from infra.iam import CODE_GRANTS

MODELS = "botocore/data/"


def services_called() -> set[str]:
    """The botocore service names of every action a function is granted (IAM prefixes are the
    same names for the services the app uses: dynamodb, events, ses, sns, sqs, ssm)."""
    return {action.split(":", 1)[0] for grants in CODE_GRANTS.values() for action in grants}


def _service_of(name: str) -> str | None:
    """The service folder an entry of the zip belongs to, or None for anything else."""
    if not name.startswith(MODELS):
        return None
    parts = name[len(MODELS) :].split("/")
    return parts[0] if len(parts) > 1 else None  # a file at the root of data/ is botocore's own


def _kept(name: str, dropped: set[str]) -> bool:
    return _service_of(name) not in dropped and "/__pycache__/" not in f"/{name}"


def rebuild(package: Path, keep: set[str]) -> tuple[int, int]:
    """Rewrite ``package`` without the models outside ``keep`` and with every module's bytecode;
    its size before and after."""
    before = package.stat().st_size
    with tempfile.TemporaryDirectory(prefix="lambda-package-") as scratch:
        root = Path(scratch)
        with zipfile.ZipFile(package) as source:
            present = {service for service in map(_service_of, source.namelist()) if service is not None}
            missing = keep - present
            if missing:
                raise SystemExit(f"{package}: botocore has no model for {sorted(missing)}; is it bundled?")
            entries = [info for info in source.infolist() if _kept(info.filename, present - keep)]
            for info in entries:
                source.extract(info, root)
        # Files that are not Python 3 (a package's templates, examples) fail alone and stay source.
        compileall.compile_dir(
            root,
            quiet=2,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        rebuilt = package.with_suffix(".rebuilt.zip")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target:
            for info in entries:
                target.writestr(info, (root / info.filename).read_bytes() if not info.is_dir() else b"")
            for compiled in sorted(root.rglob("*.pyc")):
                target.write(compiled, compiled.relative_to(root).as_posix())
    os.replace(rebuilt, package)
    return before, package.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the deployment.zip chalice package wrote")
    args = parser.parse_args()
    keep = services_called()
    before, after = rebuild(args.package, keep)
    print(
        f"lambda_package: kept botocore models of {', '.join(sorted(keep))}, compiled every module; "
        f"{args.package} {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
