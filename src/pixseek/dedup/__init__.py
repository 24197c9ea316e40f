"""Duplicate photos: find them with evidence, act on them safely, undo.

The steps, one module each:

=============== ===========================================================================
``finding``     the whole run (:func:`find_duplicates`): catalogue -> groups, best first
``candidates``  the pairs worth judging: the similarity join plus shared pHash bands
``simjoin``     every pair of vectors above a score, without an N x N matrix
``features``    measuring a pair: pHash distance, grey and colour thumbnails, crop alignment
``rules``       the rules (exact / copy by hash or crop / similar), each a small function over
                the pair features, and their :class:`Thresholds`
``grouping``    groups without chains (near-identical clusters, one-hop copy stars)
``keeper``      the keep policy (``--keep``) and the keeper it picks
``actions``     move / hard-link / trash the duplicates, re-checked first; undo
``manifest``    the record of an action that undo reverses
``files``       file operations that never overwrite; the freedesktop trash
``report``      the ``--html`` report
=============== ===========================================================================

    groups = find_duplicates(catalog, lambda: store, similar=True)
    report = apply_action(catalog, lambda: store, groups, "move", manifest_dir=d, move_to="/q")
    undo_manifest(catalog, lambda: store, report.manifest)
"""

from .actions import ACTIONS, apply_action, undo_manifest
from .finding import find_duplicates
from .keeper import KeepPolicy, choose_keeper
from .manifest import manifests, read_manifest
from .report import render_html, write_html
from .rules import PROFILES, Thresholds, thresholds_for

__all__ = ["ACTIONS", "PROFILES", "KeepPolicy", "Thresholds", "apply_action", "choose_keeper", "find_duplicates",
           "manifests", "read_manifest", "render_html", "thresholds_for", "undo_manifest", "write_html"]
