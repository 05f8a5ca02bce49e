"""keys: generate this host's CURVE key pair into its state directory; show its public key.

No wire message: it writes files, and works with no daemon running.
CLI:  nautilusctl keys generate [--state-dir DIR | --config F] [--force] [--json]
      nautilusctl keys show [--state-dir DIR | --config F] [--json]
Files: <state_dir>/curve/host.key (public) and host.key_secret, both 0600 in a 0700
directory, in pyzmq's certificate format (zmq.auth.load_certificate reads them: the bridges
and the fleet control endpoint do, engines.bridge.keys). Put the printed public key in the
other hosts' [[peers]] entry for this host.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from pathlib import Path

import zmq
import zmq.auth

from nautilusd import paths
from nautilusd.control.commands import UsageError
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "keys"
KEY_DIR = "curve"  # the same names as engines.bridge.keys (read there)
PUBLIC_FILE = "host.key"
SECRET_FILE = "host.key_secret"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("generate", "show"))
    parser.add_argument("--state-dir", help="the instance's state directory")
    parser.add_argument("--config", help="take the state directory from this topology")
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")


def state_dir_of(args: argparse.Namespace) -> Path:
    """--state-dir, else the [supervisor].state_dir of --config, else the instance's default."""
    if args.state_dir:
        return Path(args.state_dir)
    if args.config:
        try:
            doc = tomllib.loads(Path(args.config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"--config {args.config}: {exc}") from None
        sup = doc.get("supervisor", {})
        if sup.get("state_dir"):
            return Path(sup["state_dir"])
        return paths.default_state_dir(sup.get("instance", "default"))
    return paths.default_state_dir(args.instance)


def generate(state_dir: Path, force: bool = False) -> tuple[Path, str]:
    """Write a new pair; returns the secret file and the Z85 public key."""
    base = state_dir / KEY_DIR
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    secret_path = base / SECRET_FILE
    if secret_path.exists() and not force:
        raise UsageError(f"{secret_path} exists; pass --force to replace this host's keys "
                         f"(every peer must then be given the new public key)")
    public, secret = zmq.curve_keypair()
    for path, with_secret in ((base / PUBLIC_FILE, False), (secret_path, True)):
        lines = ["#   nautilusd host key (zmq.auth certificate format)", "metadata", "curve",
                 f'    public-key = "{public.decode()}"']
        if with_secret:
            lines.append(f'    secret-key = "{secret.decode()}"')
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, ("\n".join(lines) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    return secret_path, public.decode()


def main(args: argparse.Namespace, session: Session) -> int:
    state_dir = state_dir_of(args)
    if args.action == "generate":
        path, public = generate(state_dir, args.force)
    else:
        path = state_dir / KEY_DIR / PUBLIC_FILE
        try:
            raw, _ = zmq.auth.load_certificate(str(path))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: {exc}") from None
        public = raw.decode()
    if args.json:
        session.write(json.dumps({"public_key": public, "path": str(path)}))
    else:
        session.write(f"{public}\n(public key of this host; {path})")
    return 0


COMMAND = Local(name=NAME, help="generate or show this host's CURVE key pair", arguments=arguments,
                main=main)
