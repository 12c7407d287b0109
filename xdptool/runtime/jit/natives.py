"""Which helpers run as native code: the table the translator consults.

Native: map_lookup_elem (1), map_update_elem (2), map_delete_elem (3) for the
map kinds maps.py handles.  Every other helper is the runtime's Python
implementation behind the callback (helpers.py).
"""

from __future__ import annotations

from .maps import MapHelpers, MapShape


def native_emitters(shapes: tuple[MapShape, ...]) -> dict:
    """{helper id: emitter} for a program whose natively handled maps are `shapes`."""
    return dict(MapHelpers(shapes).emitters())
