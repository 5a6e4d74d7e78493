#!/usr/bin/env python3
"""Writes BUNDLE/config.json for runc from an image's config (BUNDLE/image.json, what
`podman image inspect --format '{{json .Config}}'` prints), the way a container runtime
would: the image's user, entrypoint + default command (or the arguments after `--`,
as Kubernetes `args:` replace CMD), environment and working directory; no capabilities,
no new privileges, read-only root file system, the default RLIMIT_NOFILE of runc's spec.
Network: the namespace at --netns PATH, or the host's (--host-network, for loopback
replicas in scripts/fleet-test.sh). --bind HOST:CONTAINER mounts a host directory
read-only, as a Kubernetes volume would be.

Used by scripts/image-check.sh and scripts/fleet-test.sh."""

import argparse
import json
import os
import subprocess
import sys


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("bundle")
    p.add_argument("--netns")
    p.add_argument("--host-network", action="store_true")
    p.add_argument("--bind", action="append", default=[])
    argv = sys.argv[1:]
    command_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command_args = argv[:cut], argv[cut + 1 :]
    a = p.parse_args(argv)
    if bool(a.netns) == a.host_network:
        sys.exit("runc-config: give exactly one of --netns PATH and --host-network")
    image = json.load(open(os.path.join(a.bundle, "image.json")))
    entrypoint = image.get("Entrypoint") or []
    command = command_args if command_args else (image.get("Cmd") or [])
    if not entrypoint:
        sys.exit("runc-config: the image has no ENTRYPOINT")
    user = image.get("User") or ""
    try:
        uid, gid = (int(x) for x in user.split(":"))
    except ValueError:
        sys.exit(f"runc-config: the image's USER {user!r} is not numeric UID:GID")

    if os.path.exists(os.path.join(a.bundle, "config.json")):
        os.remove(os.path.join(a.bundle, "config.json"))
    subprocess.run(["runc", "spec", "--bundle", a.bundle], check=True)
    path = os.path.join(a.bundle, "config.json")
    spec = json.load(open(path))
    proc = spec["process"]
    proc["terminal"] = False
    proc["args"] = entrypoint + command
    proc["user"] = {"uid": uid, "gid": gid}
    proc["cwd"] = image.get("WorkingDir") or "/"
    env = image.get("Env") or []
    if not any(e.startswith("PATH=") for e in env):
        env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + env
    proc["env"] = env
    proc["capabilities"] = {k: [] for k in ("bounding", "effective", "permitted", "ambient")}
    proc["noNewPrivileges"] = True
    spec["root"] = {"path": "rootfs", "readonly": True}
    spec["hostname"] = "tasnif"
    namespaces = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    if a.netns:
        namespaces.append({"type": "network", "path": a.netns})
    spec["linux"]["namespaces"] = namespaces
    for bind in a.bind:
        src, dst = bind.split(":", 1)
        spec["mounts"].append(
            {"destination": dst, "type": "bind", "source": os.path.abspath(src),
             "options": ["rbind", "ro"]}
        )
    json.dump(spec, open(path, "w"), indent=1)


if __name__ == "__main__":
    main()
