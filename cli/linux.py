"""``armboot linux fetch|info``: Debian's arm64 kernel and a busybox initramfs for ``boot --linux``."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_BAD_INPUT
from .render import stderr

app = typer.Typer(help="A real Linux kernel and initramfs to boot (Debian arm64 packages).", no_args_is_help=True)

CacheDir = Annotated[
    str | None, typer.Option("--cache-dir", help="cache folder (default $XDG_CACHE_HOME/armboot/linux)")
]


def _progress(message: str) -> None:
    stderr.print(f"[dim]armboot linux: {message}[/dim]")


@app.command("fetch")
def fetch(
    refresh: Annotated[bool, typer.Option("--refresh", help="ask apt again for the newest packages and rebuild")] = False,
    cache_dir: CacheDir = None,
) -> None:
    """Download the newest Debian arm64 kernel and busybox-static; build the initramfs (cached)."""
    from armboot.bootloader.linux import LinuxFetchError
    from armboot.bootloader.linux import fetch as fetch_linux

    try:
        arts = fetch_linux(cache_dir, refresh=refresh, log=_progress)
    except LinuxFetchError as e:
        stderr.print(f"[bold red]error:[/bold red] {e}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    print(f"kernel  {arts.package} {arts.version}: {arts.image}")
    print(f"initrd  busybox-static {arts.busybox_version}: {arts.initrd}")


@app.command("info")
def info(cache_dir: CacheDir = None) -> None:
    """Show what is cached (exit status 1 when nothing is)."""
    from armboot.bootloader.linux import default_cache_dir, manifest

    root = cache_dir or default_cache_dir()
    m = manifest(root)
    if m is None:
        stderr.print(f"nothing cached in {root}: run armboot linux fetch")
        raise typer.Exit(EXIT_BAD_INPUT)
    k, b = m["kernel"], m["busybox"]
    print(f"cache    {root} (fetched {m.get('fetched', '?')})")
    print(f"kernel   {k['package']} {k['version']} (uname -r {k['release']})")
    print(f"Image    {root}/{m['image']}: {k['image_bytes']:,} bytes (header: image_size {k['image_size']:,}, "
          f"text_offset {k['text_offset']:#x}, flags {k['flags']:#x})")
    print(f"busybox  {b['package']} {b['version']}: {b['size']:,} bytes")
    print(f"initrd   {root}/{m['initrd']}: {m.get('initrd_size', 0):,} bytes (gzip'd newc cpio)")
