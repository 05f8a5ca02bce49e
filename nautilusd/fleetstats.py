"""What the fleet control endpoint admitted and refused, shared with the `fleet` command.

A module of its own, importing nothing: the control commands (which nautilusctl imports) read
it without pulling in the CURVE server and its engine-side ZAP handler.
"""

from __future__ import annotations

CONTROL: dict[str, int] = {}  # {"accepted": n, "refused": n} once the endpoint is bound
