"""Where ppcreloc keeps what it fetches: outside the repository, in the user's cache.

Kernel material (source trees, Debian's ppc64el kernel images and their modules) is fetched at
test or run time and never lives in the working tree, so a checkout holds only the project's
own code. One base directory, ``$PPCRELOC_CACHE`` or ``~/.cache/ppcreloc``:

* ``kernel/``: extracted kernel trees and compiled harness libraries
  (ppcreloc.reference.kernel.build);
* ``ppc64el/``: Debian's ppc64el kernel images (``scripts/fetch-ppc64el-modules.sh``, which
  computes the same default; ``$PPCRELOC_PPC64EL_CACHE`` overrides this one directory).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_base() -> Path:
    """``$PPCRELOC_CACHE`` or ``~/.cache/ppcreloc``."""
    base = os.environ.get("PPCRELOC_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "ppcreloc"


def ppc64el_cache() -> Path:
    """Debian's ppc64el kernel images: ``$PPCRELOC_PPC64EL_CACHE`` or ``cache_base()/ppc64el``."""
    explicit = os.environ.get("PPCRELOC_PPC64EL_CACHE")
    return Path(explicit) if explicit else cache_base() / "ppc64el"
