"""API keys: mint one for a role and scope, or revoke one, on any stage.

    python -m tools.keys mint --role channel --scope web [--label "web store backend"]
    python -m tools.keys mint --role admin
    python -m tools.keys revoke KEY_OR_SHA256_OR_KEY_ID
    (both take --stage (default local), --endpoint-url, --region)

The table stores only a key's SHA-256 (chalicelib/adapters/api_keys.py): the raw key is printed
once, on standard output alone so that a script can capture it, and cannot be shown again. Its
public handle (``key_<hash prefix>``), role and scope go to standard error. Revocation takes
effect within the API's key cache time (OMS_API_KEY_CACHE_SECONDS, 60 s by default). Both write
the key's listing item and an ``api_key.minted``/``api_key.revoked`` event, as the admin API
(``POST /v1/api-keys``, ``DELETE /v1/api-keys/{key_id}``) does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.api_keys import ApiKeyStore, hash_key, key_id_of
from chalicelib.adapters.reference import DynamoReferenceStore
from chalicelib.domain.auth import Role
from tools import add_target_arguments, resolve_target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.keys", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    mint = commands.add_parser("mint", help="create a key and print it once")
    add_target_arguments(mint, suppress_defaults=True)
    mint.add_argument("--role", required=True, choices=[role.value for role in Role])
    mint.add_argument("--scope", help="the channel or warehouse id (required for those roles)")
    mint.add_argument("--label", default="", help="what the key is for, kept with it")
    revoke = commands.add_parser("revoke", help="revoke a key by its raw value, SHA-256 or key id")
    add_target_arguments(revoke, suppress_defaults=True)
    revoke.add_argument("key", metavar="KEY_OR_HASH_OR_KEY_ID")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        target = resolve_target(args)
        store = ApiKeyStore(target.client("dynamodb"), target.table)
        if args.command == "mint":
            role = Role(args.role)
            if role == Role.ADMIN and args.scope:
                parser.error("admin keys have no scope")
            try:
                minted = store.mint(role, args.scope, label=args.label)
            except ValueError as error:
                parser.error(str(error))
            scope = f" scope={minted.scope}" if minted.scope else ""
            print(f"{minted.key_id} role={minted.role.value}{scope} on stage {target.stage}", file=sys.stderr)
            print("the key is shown this once; store it now:", file=sys.stderr)
            print(minted.raw_key)
            return 0
        key_hash = args.key if len(args.key) == 64 else hash_key(args.key)
        if args.key.startswith("key_"):  # a key id, as GET /v1/api-keys lists it
            listed = DynamoReferenceStore(target.client("dynamodb"), target.table).get_api_key(args.key)
            if listed is None:
                print(f"tools.keys: no such key on stage {target.stage}", file=sys.stderr)
                return 1
            key_hash = listed.key_hash
        try:
            store.revoke(key_hash)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                print(f"tools.keys: no such key on stage {target.stage}", file=sys.stderr)
                return 1
            raise
        print(f"revoked {key_id_of(key_hash)} on stage {target.stage}")
        return 0
    except FileNotFoundError as error:
        print(f"tools.keys: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"tools.keys: AWS error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
