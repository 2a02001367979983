"""Test hosts of our own on one machine: network namespaces (`ip netns`), each with an address
on a bridge in a "switch" namespace, and links cut with iptables DROP rules inside a host's
namespace (packets vanish: no refused connection, no proxy). Needs root, iproute2 and iptables.

Used by Tests/integration/test_netns.py and by bench/chaos.py's `--network netns` mode. The
addresses are in RFC 2544's benchmarking range and exist only inside these namespaces (and, with
`root_link`, on one veth of the machine's own namespace so that in-process clients reach them).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
from pathlib import Path

SUBNET = "198.18.7"
PREFIX = "tern"  # namespace names: tern<pid><name>; the switch is tern<pid>sw


def missing_tools() -> str | None:
    """Why these hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [t for t in ("ip", "iptables") if shutil.which(t) is None]
    return f"missing {' and '.join(missing)} (make deps installs iproute2 and iptables)" if missing else None


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip()}")
    return out


def remove_stale() -> None:
    """Namespaces of earlier runs whose process is gone (killed before it cleaned up)."""
    for line in sh("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0]
        if not name.startswith(PREFIX):
            continue
        digits = ""
        for ch in name[len(PREFIX):]:
            if not ch.isdigit():
                break
            digits += ch
        if digits and not Path(f"/proc/{digits}").exists():
            sh("ip", "netns", "del", name, check=False)
    # A root-side link whose switch is gone goes with it; one left by a live run stays.


_guarded = False


def _guard_root_routes() -> None:
    """While a root-side link exists, its /24 reaches the hosts; once it is gone, a client left
    running in this process (librdkafka reconnects for a while) must not send those addresses out
    of the machine by the default route. A blackhole route for the whole 198.18.0.0/15 range,
    less specific than the link's, catches them; it goes when this process exits."""
    global _guarded
    if _guarded:
        return
    if "blackhole" not in sh("ip", "route", "show", "198.18.0.0/15").stdout:
        sh("ip", "route", "add", "blackhole", "198.18.0.0/15")
        atexit.register(lambda: sh("ip", "route", "del", "blackhole", "198.18.0.0/15", check=False))
    _guarded = True


class Hosts:
    """A switch namespace with a bridge, one namespace per host with its address on it, and
    optionally a link from the machine's own namespace (`root_ip`) for clients running here."""

    def __init__(self, names: list[str], root_link: bool = False):
        tag = f"{PREFIX}{os.getpid()}"
        self.switch = f"{tag}sw"
        self.ns = {name: f"{tag}{name}" for name in names}
        self.ip = {name: f"{SUBNET}.{10 + i}" for i, name in enumerate(names)}
        self.root_link = f"tr{os.getpid() % 10_000_000}" if root_link else None
        self.root_ip = f"{SUBNET}.1" if root_link else None

    def up(self) -> Hosts:
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, (name, ns) in enumerate(self.ns.items()):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # Made in the host's namespace, its peer moved to the switch: no name in the root one.
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"port{i}", "netns", self.switch)
            sh("ip", "-n", ns, "addr", "add", f"{self.ip[name]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.switch, "link", "set", f"port{i}", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", f"port{i}", "up")
        if self.root_link:
            _guard_root_routes()
            sh("ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "uplink", "netns", self.switch)
            sh("ip", "addr", "add", f"{self.root_ip}/24", "dev", self.root_link)
            sh("ip", "link", "set", self.root_link, "up")
            sh("ip", "-n", self.switch, "link", "set", "uplink", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", "uplink", "up")
        return self

    def down(self) -> None:
        # Deleting the switch namespace deletes the root-side link's peer, and with it the link.
        for ns in [*self.ns.values(), self.switch]:
            sh("ip", "netns", "del", ns, check=False)
        if self.root_link:
            sh("ip", "link", "del", self.root_link, check=False)

    def command(self, name: str, *args: str) -> list[str]:
        """`args` run inside host `name`'s namespace."""
        return ["ip", "netns", "exec", self.ns[name], *args]

    def cut(self, name: str, only_from: list[str] | None = None) -> None:
        """Every packet into or out of host `name` dropped (its own loopback excepted), or only
        those to and from the hosts `only_from`."""
        peers = [self.ip[p] for p in only_from] if only_from is not None else [None]
        for peer in peers:
            for chain, flag, addr in (("INPUT", "-i", "-s"), ("OUTPUT", "-o", "-d")):
                rule = [chain, "!", flag, "lo"] + ([addr, peer] if peer else []) + ["-j", "DROP"]
                sh(*self.command(name, "iptables", "-A", *rule))

    def heal(self, name: str) -> None:
        sh(*self.command(name, "iptables", "-F"))
