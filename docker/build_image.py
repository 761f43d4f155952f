#!/usr/bin/env python3
"""Builds one image of the inbox fleet without a Docker engine or a registry.

    build_image.py --binary target/release/inbox-gateway --name inbox-gateway --tag 0.1.0 \
        --out target/images/inbox-gateway.tar [--volume /var/lib/inbox/search]

The image is FROM scratch: the release binary (debug information stripped), the shared libraries it links (from `ldd`, at
their own paths, with the loader), the CA certificates, an /etc/passwd naming the non-root user
10001 and an empty /tmp. No shell, no package manager: nothing to run but the service. It runs
as 10001:10001 and needs no writable path but /tmp (and the search index volume).

The archive holds the image twice over the same layer blob: as an OCI image layout
(`oci-layout`, `index.json`, `blobs/sha256/...`: `skopeo copy oci-archive:...`, podman, Docker 25+)
and as `docker save` does (`manifest.json`: `docker load -i` on any Docker). Deterministic: the
same inputs give the same bytes (mtimes 0, sorted entries, numeric owners).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

UID = GID = 10001
CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries `ldd` resolves for the binary, and the dynamic loader."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0 and "not a dynamic executable" in (out.stdout + out.stderr):
        return []
    if out.returncode != 0:
        sys.exit(f"ldd {binary} failed: {out.stderr.strip()}")
    libraries = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            sys.exit(f"{binary}: a library is missing: {line}")
        match = re.search(r"=>\s*(/\S+)", line) or re.match(r"(/\S+)", line)
        if match:
            libraries.append(Path(match.group(1)))
    return libraries


class Layer:
    """One uncompressed tar layer, built in memory with fixed metadata."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)
        self.seen: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, 0
        info.uname = info.gname = ""
        return info

    def directory(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            name = "/".join(parts[:i])
            if name and name not in self.seen:
                self.seen.add(name)
                last = i == len(parts)
                self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode if last else 0o755, uid if last else 0, gid if last else 0))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        name = path.strip("/")
        self.directory(os.path.dirname(name))
        if name in self.seen:
            return
        self.seen.add(name)
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stripped(binary: Path) -> bytes:
    """The binary without its debug information (the release profile keeps line tables for
    profiling; an image has no use for them): `strip --strip-debug` on a copy, or the binary as
    it is, with a warning, where binutils is missing."""
    import shutil
    import tempfile

    if shutil.which("strip") is None:
        print(f"warning: no strip here; {binary.name} goes into its image with its debug information", file=sys.stderr)
        return binary.read_bytes()
    with tempfile.TemporaryDirectory() as work:
        copy = Path(work) / binary.name
        shutil.copyfile(binary, copy)
        subprocess.run(["strip", "--strip-debug", str(copy)], check=True)
        return copy.read_bytes()


def build(binary: Path, name: str, tag: str, volumes: list[str], env: list[str]) -> tuple[bytes, dict]:
    layer = Layer()
    entrypoint = f"/usr/local/bin/{name}"
    layer.file(entrypoint, stripped(binary), 0o755)
    for library in sorted(set(shared_libraries(binary))):
        real = library.resolve()
        layer.file(str(library), real.read_bytes(), 0o755)
    ca = next((Path(p) for p in CA_BUNDLES if Path(p).is_file()), None)
    if ca is None:
        sys.exit("no CA bundle found (install ca-certificates)")
    layer.file("/etc/ssl/certs/ca-certificates.crt", ca.read_bytes())
    layer.file("/etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\ninbox:x:{UID}:{GID}:inbox:/nonexistent:/sbin/nologin\n".encode())
    layer.file("/etc/group", f"root:x:0:\ninbox:x:{GID}:\n".encode())
    layer.file("/etc/nsswitch.conf", b"hosts: files dns\n")
    layer.directory("/tmp", 0o1777)
    for volume in volumes:
        layer.directory(volume, 0o750, UID, GID)
    tar = layer.bytes()
    diff_id = f"sha256:{sha256(tar)}"
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": f"{UID}:{GID}",
            "Entrypoint": [entrypoint],
            "Env": ["PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", *env],
            "WorkingDir": "/",
            "StopSignal": "SIGTERM",
            "Volumes": {v: {} for v in volumes} or None,
            "Labels": {
                "org.opencontainers.image.title": name,
                "org.opencontainers.image.version": tag,
                "org.opencontainers.image.licenses": "Apache-2.0",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "docker/build_image.py"}],
    }
    if config["config"]["Volumes"] is None:
        del config["config"]["Volumes"]
    return tar, config


def archive(tar: bytes, config: dict, name: str, tag: str) -> bytes:
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    layer_digest, config_digest = sha256(tar), sha256(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{config_digest}", "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{layer_digest}", "size": len(tar)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    reference = f"{name}:{tag}"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{sha256(manifest_bytes)}",
                "size": len(manifest_bytes),
                "annotations": {"io.containerd.image.name": reference, "org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    docker_manifest = [{"Config": f"blobs/sha256/{config_digest}", "RepoTags": [reference], "Layers": [f"blobs/sha256/{layer_digest}"]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive_tar:
        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive_tar.addfile(info, io.BytesIO(data))

        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            archive_tar.addfile(info)
        add(f"blobs/sha256/{config_digest}", config_bytes)
        add(f"blobs/sha256/{layer_digest}", tar)
        add(f"blobs/sha256/{sha256(manifest_bytes)}", manifest_bytes)
        add("index.json", json.dumps(index, sort_keys=True).encode())
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("manifest.json", json.dumps(docker_manifest).encode())
        add("repositories", json.dumps({name: {tag: layer_digest}}).encode())
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--name", required=True, help="image name, e.g. inbox-gateway")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--volume", action="append", default=[], help="a directory owned by the service user")
    parser.add_argument("--env", action="append", default=[], help="NAME=value baked into the image")
    args = parser.parse_args()
    if args.tag == "latest":
        sys.exit("refusing the tag 'latest': images are pinned")
    tar, config = build(args.binary, args.name, args.tag, args.volume, args.env)
    data = archive(tar, config, args.name, args.tag)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    print(f"{args.name}:{args.tag}  {len(tar) / 1e6:.1f} MB  {args.out}")


if __name__ == "__main__":
    main()
